"""The answer pack (``.epack``): the one implementation of the format, shared by the agent
(which builds packs) and the bridge (which opens them). Pure code: bytes in, bytes out.

See docs/answer-pack.md for the byte layout.
"""
from kiosk_agent.answer_pack.codec import (build_pack, generate_bridge_key, generate_device_key, key_id, open_pack,
                                           peek_manifest, public_key_b64)
from kiosk_agent.answer_pack.errors import (ForeignKey, Malformed, NotAPack, PackError, SignatureInvalid, Truncated,
                                            UnsupportedVersion)
from kiosk_agent.answer_pack.model import (FORMAT_VERSION, MAGIC, SUPPORTED_VERSIONS, canonical, event_hash,
                                           payload_hash)

__all__ = ["build_pack", "generate_bridge_key", "generate_device_key", "key_id", "open_pack", "peek_manifest",
           "public_key_b64", "ForeignKey", "Malformed", "NotAPack", "PackError", "SignatureInvalid", "Truncated",
           "UnsupportedVersion", "FORMAT_VERSION", "MAGIC", "SUPPORTED_VERSIONS", "canonical", "event_hash",
           "payload_hash"]
