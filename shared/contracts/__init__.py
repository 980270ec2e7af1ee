"""Public contracts shared by every service: event models, topics, envelope, schemas."""
