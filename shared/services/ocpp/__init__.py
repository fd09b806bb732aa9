"""OCPP use cases by functional block (provisioning, authorization, availability, remote
calls), dispatched by ``router.handle_frame`` on ``(version, action)``."""
