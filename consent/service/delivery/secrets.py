"""Recipients' webhook signing secrets: read from the environment variable each one names.

A policy names the variable (`secret_env`), never the secret. At start-up a production service
refuses to run while any recipient's variable is unset or empty, naming the variables (never a
value); a development service says so in the log and leaves that recipient's messages pending
until the variable is set and the service restarted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from consent.config import ConfigError, Environment
from policies import Policy, Recipient

__all__ = ["RecipientSecrets", "check_recipient_secrets"]

log = logging.getLogger(__name__)


class RecipientSecrets:
    """The secrets of the recipients whose variables are set, looked up by recipient."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def secret_for(self, recipient: Recipient) -> bytes | None:
        value = self._environ.get(recipient.secret_env, "")
        return value.encode() if value else None

    def deliverable(self, policy: Policy) -> list[str]:
        """The ids of the policy's recipients that have a secret: only they are delivered to."""
        return sorted(rid for rid, recipient in policy.recipients.items() if self.secret_for(recipient))


def check_recipient_secrets(policy: Policy, secrets: RecipientSecrets, env: Environment) -> None:
    """Refuse to start in production while a recipient has no secret; in development, warn."""
    missing = sorted(
        {recipient.secret_env for recipient in policy.recipients.values() if secrets.secret_for(recipient) is None}
    )
    if not missing:
        return
    if env is Environment.PRODUCTION:
        raise ConfigError(f"webhook signing secret missing for a policy recipient: set {', '.join(missing)}")
    for variable in missing:
        log.warning("%s is not set: deliveries to the recipients that name it stay pending", variable)
