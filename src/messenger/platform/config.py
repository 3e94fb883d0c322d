"""Settings: one frozen object per process, read from `MESSENGER_*` variables at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICES = ("auth", "session", "profile", "contact", "messaging", "gateway")


class Settings(BaseSettings):
    """Everything an operator can set; API.md's operator contract names the public ones."""

    model_config = SettingsConfigDict(
        env_prefix="MESSENGER_", env_file=".env", frozen=True, extra="ignore"
    )

    data_dir: Path = Path("var")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    public_url: str | None = None
    nats_url: str | None = None
    database_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "messenger@localhost"
    log_level: str = "info"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    # Load balancers whose X-Forwarded-For the gateway believes (comma-separated IPs).
    trusted_proxies: str | None = None

    # Where each internal service listens; `messenger up` picks free ports for them.
    auth_addr: str = "127.0.0.1:7101"
    session_addr: str = "127.0.0.1:7102"
    profile_addr: str = "127.0.0.1:7103"
    contact_addr: str = "127.0.0.1:7104"
    messaging_addr: str = "127.0.0.1:7105"

    rpc_timeout_seconds: float = 5.0
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    # Every refresh issues a new refresh token living this long, so it is also the
    # session's idle timeout; `session_max_lifetime_seconds` is its absolute end.
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    session_max_lifetime_seconds: int = Field(default=90 * 24 * 3600, ge=60)
    # Automatic rotation of the access-token signing key (0: only `messenger rotate-keys`).
    signing_key_rotation_seconds: int = Field(default=30 * 24 * 3600, ge=0)
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=50, ge=1)
    login_failure_window_seconds: int = Field(default=300, ge=1)
    # The key that encrypts queued emails (they carry tokens); default
    # `<data_dir>/secrets/mail.key`, created at first start. Share it between instances.
    mail_key_file: Path | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://{self.gateway_host}:{self.gateway_port}"

    @property
    def links_base_url(self) -> str:
        """Base of the links in emails."""
        return (self.public_url or self.gateway_url).rstrip("/")

    @property
    def profile_url(self) -> str:
        return f"http://{self.profile_addr}"


def load_settings() -> Settings:
    return Settings()
