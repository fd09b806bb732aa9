"""OCPP-J 1.6 and 2.0.1 without I/O: frames, RPC error codes per version, the action
catalogue, and the typed inputs and results of each functional block.

Wire payloads are camelCase dicts; everything past the parsing functions here is
snake_case dataclasses. Each version's wire shape is mapped in one place per block
(``provisioning``, ``authorization``, ``availability``), so 1.6 and 2.0.1 sit side by side.
"""
