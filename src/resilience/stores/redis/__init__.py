"""Redis stores."""
