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

    # Where each internal service listens; `messenger up` picks free ports for them.
    auth_addr: str = "127.0.0.1:7101"
    session_addr: str = "127.0.0.1:7102"
    profile_addr: str = "127.0.0.1:7103"
    contact_addr: str = "127.0.0.1:7104"
    messaging_addr: str = "127.0.0.1:7105"

    rpc_timeout_seconds: float = 5.0
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=900)
    refresh_token_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_failure_window_seconds: int = Field(default=300, ge=1)

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
