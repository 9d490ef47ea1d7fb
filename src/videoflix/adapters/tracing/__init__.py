"""OpenTelemetry traces (the optional ``videoflix[otel]`` extra)."""
