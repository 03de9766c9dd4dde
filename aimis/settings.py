"""Typed settings, one group per area, read from ``AIMIS_*`` environment variables.

Every field has a default that makes the embedded platform run on one machine with nothing
installed: SQLite under the data folder, the in-memory channel, a local Prefect server.
Secrets are ``SecretStr`` so they never reach a log line.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="AIMIS_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite files, images, uploads."
    )
    host: str = Field("127.0.0.1", description="Address the web app and Prefect server bind to.")
    port: int = Field(8000, description="Port of the web app.")
    prefect_port: int = Field(4200, description="Port of the Prefect server and dashboard.")
    public_url: str = Field("", description="Base URL users reach the web app at (deep links, QR).")
    database_url: str = Field(
        "", description="Empty: SQLite under the data folder. postgresql://user@host:port/db."
    )
    redis_url: str = Field("", description="Empty: in-memory live channel. redis://host:port/0.")
    redis_prefix: str = Field(
        "AIMIS",
        description="Prefix of the live channel's Redis keys; deployments sharing a Redis differ.",
    )
    prefect_api_url: str = Field(
        "", description="Empty: the local Prefect server started by `aimis up`."
    )
    time_zone: str = Field("Asia/Shanghai", description="Default hospital time zone.")
    session_idle_minutes: int = Field(30, description="Session ends after this inactivity.")
    session_max_hours: int = Field(12, description="Session ends this long after login.")
    max_failed_logins: int = Field(10, description="Wrong passwords per day that freeze.")
    reset_code_minutes: int = Field(10, description="Validity of a password-reset code.")
    reset_code_tries: int = Field(5, description="Wrong tries that void a reset code.")
    qr_token_seconds: int = Field(120, description="Validity of a QR login token.")
    login_failures_per_address: int = Field(
        20,
        description="Failed logins (any accounts) one client address may have in a window; "
        "then 429 until the window ends. Successful logins do not count.",
    )
    login_failures_per_account: int = Field(
        5,
        description="Failed logins one account name may have in a window (from any address), "
        "below the freeze limit: a burst is throttled before it freezes the account.",
    )
    login_failure_window_seconds: int = Field(
        900, description="Window of the two failed-login budgets."
    )
    forgot_per_address: int = Field(
        20, description="Reset codes one client address may request in a window."
    )
    forgot_per_account: int = Field(
        3, description="Reset codes that may be requested for one account name in a window."
    )
    forgot_window_seconds: int = Field(3600, description="Window of the two reset-code budgets.")
    reset_failures_per_address: int = Field(
        10, description="Wrong or expired reset codes one client address may send in a window."
    )
    reset_failure_window_seconds: int = Field(
        900, description="Window of the wrong-reset-code budget."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [],
        description="Addresses or networks (CIDR) of the reverse proxies in front of the web "
        "app, comma-separated: only from these is X-Forwarded-For believed. Empty: none (the "
        "client address is the connection's).",
    )
    password_history: int = Field(5, description="A new password differs from this many.")
    password_hash_memory_kib: int = Field(
        65536,
        description="argon2id memory cost of new password hashes (KiB; the default is RFC 9106's "
        "low-memory profile). Each hash keeps its own cost, so changing it never locks anyone "
        "out. The test suite lowers it: a login there costs milliseconds, not 70 ms.",
    )
    password_hash_time_cost: int = Field(
        3, description="argon2id passes over the memory for new password hashes (RFC 9106: 3)."
    )
    logo_max_bytes: int = Field(2 * 1024 * 1024, description="Largest hospital logo upload.")
    notify_log_url: str = Field(
        "", description="Extra apprise URL every notification is also sent to (ops copy)."
    )
    notify_allowed_hosts: str = Field(
        "",
        description="Operator's exceptions to the outbound rule of hospital notification "
        "channels (WeCom/WeChat go to Tencent's hosts only, a hospital's mail server to public "
        "hosts only): comma-separated host names, IP addresses or networks, each optionally "
        "with :port, e.g. 'gw.example.org, 10.20.0.0/16, 127.0.0.1:8080' (self-hosted gateways).",
    )
    smtp_url: SecretStr = Field(
        SecretStr(""), description="apprise mailto:// URL for e-mail (verification codes)."
    )
    secure_cookies: bool = Field(False, description="Mark cookies Secure (behind HTTPS).")
    json_max_bytes: int = Field(
        2 * 1024 * 1024, description="Largest JSON request body (larger: 413)."
    )
    json_max_depth: int = Field(
        32, description="Deepest nesting of arrays/objects in a JSON request body (deeper: 400)."
    )
    demo: bool = Field(True, description="`aimis up` loads demo data into an empty database.")
    meeting_url_template: str = Field(
        "https://meet.jit.si/aimis-{consultation_id}-{token}",
        description="Meeting link of a consultation: any URL with {consultation_id} and {token} "
        "(a random, unguessable part), e.g. a hospital's own Jitsi server.",
    )
    consultation_reminder_minutes: int = Field(
        30, description="Participants are reminded this long before a consultation's start."
    )
    dicom_ae_title: str = Field("AIMIS", description="AE title of the C-STORE receiver.")
    dicom_port: int = Field(11112, description="Port of the C-ECHO/C-STORE receiver.")
    dicom_host: str = Field(
        "", description="Address the DICOM receiver binds to (empty: the same as `host`)."
    )
    ingest_policy: str = Field(
        "strict",
        description="strict: refuse files without Patient ID or Study/Series UIDs; lenient: "
        "accept well-formed files without them.",
    )
    ingest_max_file_bytes: int = Field(
        2 * 1024**3, description="Largest DICOM file accepted by any ingest path."
    )
    ingest_max_upload_bytes: int = Field(
        4 * 1024**3, description="Largest upload (all files, or a zip's expanded content)."
    )
    ingest_max_zip_entries: int = Field(20000, description="Most files one zip may hold.")
    temp_max_age_hours: float = Field(
        6,
        description="A temp file or receiving folder untouched this long is a crash's leftover "
        "and removed by the hourly sweep-temp-files flow.",
    )
    ingest_zip_max_ratio: int = Field(
        200, description="A zip entry expanding more than this many times is a zip bomb."
    )
    demo_study_patients: int = Field(
        1, description="Fake patients whose small synthetic studies the demo loads per hospital."
    )
    archive_batch: int = Field(
        200,
        description="Studies one archive-policy run moves per hospital (the next run "
        "takes the rest).",
    )
    archive_zip_level: int = Field(
        1, description="Deflate level (0-9) of the per-study archive containers."
    )
    archive_leftover_days: int = Field(
        7,
        description="How far back a policy run looks for online files a crashed run left "
        "behind after archiving.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        parts = value.split(",") if isinstance(value, str) else value
        if not isinstance(parts, list):
            return parts
        proxies = [str(part).strip() for part in parts if str(part).strip()]
        for proxy in proxies:
            ipaddress.ip_network(proxy, strict=False)  # a ValueError names the bad entry
        return proxies

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "aimis.sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgres://", "postgresql://"))

    @property
    def prefect_api(self) -> str:
        return self.prefect_api_url or f"http://{self.host}:{self.prefect_port}/api"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class DispatchSettings(BaseSettings):
    """The outbox dispatcher (``aimis dispatcher``)."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_DISPATCH_", extra="ignore")

    poll_seconds: float = Field(0.5, description="How often the outbox is polled for due work.")
    concurrency: int = Field(
        4, description="Flow runs at the same time; 2 of them are kept for urgent kinds."
    )
    lease_seconds: float = Field(
        30, description="A claimed row is taken over by another dispatcher if not renewed."
    )
    max_attempts: int = Field(5, description="Failed attempts after which a row is failed.")
    backoff_seconds: float = Field(
        10, description="Wait after the first failed attempt; doubles each attempt."
    )
    backoff_max_seconds: float = Field(600, description="Longest wait between attempts.")
    retry_delays: list[float] = Field(
        [2, 5, 15], description="Waits between the retries of one IO step inside a flow run."
    )
    run_timeout_seconds: float = Field(
        300, description="A flow run still unfinished after this is cancelled and retried."
    )
    prefect_wait_seconds: float = Field(
        2, description="Wait before asking a Prefect API that did not answer again."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


@lru_cache(maxsize=1)
def get_dispatch_settings() -> DispatchSettings:
    return DispatchSettings()
