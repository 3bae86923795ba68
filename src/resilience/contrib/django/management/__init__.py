"""Django management commands of the integration."""
