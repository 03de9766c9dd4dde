"""Typed settings, one group per area, read from ``AIMIS_*`` environment variables.

Every field has a default that makes the embedded platform run on one machine with nothing
installed: SQLite under the data folder, the in-memory channel, a local Prefect server.
Secrets are ``SecretStr`` so they never reach a log line. A group reads its own variables
(``AIMIS_DICOM_PORT`` is ``get_settings().dicom.port``); README.md's table lists them all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class ServerSettings(BaseSettings):
    """The web app: where it listens and is reached, its data folder, request limits, the demo."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Folder for the SQLite files, images, uploads."
    )
    host: str = Field("127.0.0.1", description="Address the web app and Prefect server bind to.")
    port: int = Field(8000, description="Port of the web app.")
    public_url: str = Field("", description="Base URL users reach the web app at (deep links, QR).")
    secure_cookies: bool = Field(False, description="Mark cookies Secure (behind HTTPS).")
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        [],
        description="Addresses or networks (CIDR) of the reverse proxies in front of the web "
        "app, comma-separated: only from these is X-Forwarded-For believed. Empty: none (the "
        "client address is the connection's).",
    )
    time_zone: str = Field("Asia/Shanghai", description="Default hospital time zone.")
    logo_max_bytes: int = Field(2 * 1024 * 1024, description="Largest hospital logo upload.")
    json_max_bytes: int = Field(
        2 * 1024 * 1024, description="Largest JSON request body (larger: 413)."
    )
    json_max_depth: int = Field(
        32, description="Deepest nesting of arrays/objects in a JSON request body (deeper: 400)."
    )
    temp_max_age_hours: float = Field(
        6,
        description="A temp file or receiving folder untouched this long is a crash's leftover "
        "and removed by the hourly sweep-temp-files flow.",
    )
    demo: bool = Field(True, description="`aimis up` loads demo data into an empty database.")
    demo_study_patients: int = Field(
        1, description="Fake patients whose small synthetic studies the demo loads per hospital."
    )
    demo_history_days: int = Field(
        365,
        description="Days of past examinations (with their reports, a few remote diagnoses) "
        "the demo writes in bulk for the statistics (0: none; the test suite's setting).",
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


class DatabaseSettings(BaseSettings):
    """The app database."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_DATABASE_", extra="ignore")

    url: str = Field(
        "", description="Empty: SQLite under the data folder. postgresql://user@host:port/db."
    )


class RedisSettings(BaseSettings):
    """Redis: the live channel across web replicas, shared rate-limit counters."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_REDIS_", extra="ignore")

    url: str = Field("", description="Empty: in-memory live channel. redis://host:port/0.")
    prefix: str = Field(
        "AIMIS",
        description="Prefix of the live channel's Redis keys; deployments sharing a Redis differ.",
    )


class PrefectSettings(BaseSettings):
    """The Prefect server that runs the automated work."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_PREFECT_", extra="ignore")

    port: int = Field(4200, description="Port of the Prefect server and dashboard.")
    api_url: str = Field("", description="Empty: the local Prefect server started by `aimis up`.")


class LoginSettings(BaseSettings):
    """Sessions, freezing, reset codes, QR login and the rate limits of login and recovery."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_", extra="ignore")

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


class PasswordSettings(BaseSettings):
    """Password history and the cost of password hashes."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_PASSWORD_", extra="ignore")

    history: int = Field(5, description="A new password differs from this many.")
    hash_memory_kib: int = Field(
        65536,
        description="argon2id memory cost of new password hashes (KiB; the default is RFC 9106's "
        "low-memory profile). Each hash keeps its own cost, so changing it never locks anyone "
        "out. The test suite lowers it: a login there costs milliseconds, not 70 ms.",
    )
    hash_time_cost: int = Field(
        3, description="argon2id passes over the memory for new password hashes (RFC 9106: 3)."
    )


class NotifySettings(BaseSettings):
    """Notifications: the operator's copy, outbound exceptions, the e-mail server."""

    model_config = SettingsConfigDict(
        env_prefix="AIMIS_NOTIFY_", extra="ignore", populate_by_name=True
    )

    log_url: str = Field(
        "", description="Extra apprise URL every notification is also sent to (ops copy)."
    )
    allowed_hosts: str = Field(
        "",
        description="Operator's exceptions to the outbound rule of hospital notification "
        "channels (WeCom/WeChat go to Tencent's hosts only, a hospital's mail server to public "
        "hosts only): comma-separated host names, IP addresses or networks, each optionally "
        "with :port, e.g. 'gw.example.org, 10.20.0.0/16, 127.0.0.1:8080' (self-hosted gateways).",
    )
    smtp_url: SecretStr = Field(
        SecretStr(""),
        validation_alias="AIMIS_SMTP_URL",
        description="apprise mailto:// URL for e-mail (verification codes).",
    )


class ConsultationSettings(BaseSettings):
    """Consultations: meeting links and reminders."""

    model_config = SettingsConfigDict(
        env_prefix="AIMIS_CONSULTATION_", extra="ignore", populate_by_name=True
    )

    meeting_url_template: str = Field(
        "",
        validation_alias="AIMIS_MEETING_URL_TEMPLATE",
        description="The meeting provider, chosen by the administrator: the link of a "
        "consultation's audio/video meeting, any URL with {consultation_id} and {token} (a "
        "random, unguessable part), e.g. the hospital's own Jitsi server "
        "https://meet.hospital.example/aimis-{consultation_id}-{token}. Empty (the default): "
        "no provider is configured, no patient's case goes to a public service, and the room "
        "says so.",
    )
    reminder_minutes: int = Field(
        30, description="Participants are reminded this long before a consultation's start."
    )


class WardRoundSettings(BaseSettings):
    """Remote ward rounds (SPEC 4): reminders, the start window and the overrun."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_WARD_ROUND_", extra="ignore")

    reminder_minutes: Annotated[list[int], NoDecode] = Field(
        [60, 15],
        description="Comma-separated lead times: the applicant and the experts are reminded "
        "this many minutes before a ward round's start, once per lead time (default 60,15).",
    )
    start_window_minutes: int = Field(
        15, description="A ward round can be started this long before its time (default 15)."
    )
    overrun_minutes: int = Field(
        60,
        description="A ward round still in progress this long after its start tells the "
        "people taking part that it overruns (default 60).",
    )

    @field_validator("reminder_minutes", mode="before")
    @classmethod
    def _split_minutes(cls, value: object) -> object:
        if isinstance(value, str):
            return sorted({int(p) for p in value.split(",") if p.strip()}, reverse=True)
        return value


class DicomSettings(BaseSettings):
    """The DICOM C-ECHO/C-STORE receiver."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_DICOM_", extra="ignore")

    ae_title: str = Field("AIMIS", description="AE title of the C-STORE receiver.")
    port: int = Field(11112, description="Port of the C-ECHO/C-STORE receiver.")
    host: str = Field(
        "", description="Address the DICOM receiver binds to (empty: the same as `host`)."
    )


class IngestSettings(BaseSettings):
    """What every ingest path (C-STORE, STOW-RS, upload, import) accepts."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_INGEST_", extra="ignore")

    policy: str = Field(
        "strict",
        description="strict: refuse files without Patient ID or Study/Series UIDs; lenient: "
        "accept well-formed files without them.",
    )
    max_file_bytes: int = Field(
        2 * 1024**3, description="Largest DICOM file accepted by any ingest path."
    )
    max_upload_bytes: int = Field(
        4 * 1024**3, description="Largest upload (all files, or a zip's expanded content)."
    )
    max_zip_entries: int = Field(20000, description="Most files one zip may hold.")
    zip_max_ratio: int = Field(
        200, description="A zip entry expanding more than this many times is a zip bomb."
    )
    stale_minutes: float = Field(
        30,
        description="How long a migration run's follow-up is held while its files are still "
        "arriving (renewed with every file), and how long a run may wait in received without "
        "one before the stale-run sweep queues it again.",
    )


class ArchiveSettings(BaseSettings):
    """The archive tier and its policy runs."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_ARCHIVE_", extra="ignore")

    batch: int = Field(
        200,
        description="Studies one archive-policy run moves per hospital (the next run "
        "takes the rest).",
    )
    zip_level: int = Field(
        1, description="Deflate level (0-9) of the per-study archive containers."
    )
    leftover_days: int = Field(
        7,
        description="How far back a policy run looks for online files a crashed run left "
        "behind after archiving.",
    )


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
    start_seconds: float = Field(
        30,
        description="A flow run not yet running after this is abandoned: its rows are given "
        "back untried and claimed again after the backoff.",
    )
    batch_size: int = Field(
        50, description="Rows of a batched kind (case notices) one flow run delivers at most."
    )


class PatientSettings(BaseSettings):
    """The patient realm (SPEC 10): text-message code login, its budgets, sessions, family
    size and WeChat web authorisation (the SMS provider: ``SmsSettings``)."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_PATIENT_", extra="ignore")

    code_minutes: int = Field(5, description="Validity of a login code (SPEC 10.1).")
    code_tries: int = Field(5, description="Wrong tries that void a login code.")
    code_interval_seconds: int = Field(
        60, description="Least wait between two codes for one phone (the page's countdown)."
    )
    codes_per_phone: int = Field(5, description="Codes one phone may be sent in a window.")
    codes_per_address: int = Field(
        20, description="Codes one client address may request in a window (any phones)."
    )
    code_window_seconds: int = Field(3600, description="Window of the two code budgets.")
    login_failures_per_phone: int = Field(
        10, description="Wrong or expired codes for one phone in a window; then 429."
    )
    login_failures_per_address: int = Field(
        20, description="Wrong or expired codes from one client address in a window."
    )
    login_failure_window_seconds: int = Field(
        900, description="Window of the two wrong-code budgets."
    )
    session_idle_minutes: int = Field(
        7 * 24 * 60, description="A patient session ends after this inactivity."
    )
    session_max_hours: int = Field(
        30 * 24, description="A patient session ends this long after login."
    )
    family_max: int = Field(5, description="Family members one account may verify (besides self).")
    wechat_app_id: str = Field(
        "", description="Official account AppID for web authorisation; empty: no WeChat binding."
    )
    wechat_secret: SecretStr = Field(SecretStr(""), description="Official account AppSecret.")
    wechat_oauth_url: str = Field(
        "https://open.weixin.qq.com", description="Where the phone is sent to authorise."
    )
    wechat_api_url: str = Field(
        "https://api.weixin.qq.com", description="Where the code is exchanged for the openid."
    )

    qr_max_age_days: int = Field(
        3650,
        description="A printed report's QR code opens the examination in the patient's "
        "archive for this many days after printing.",
    )


def _sms_env(name: str) -> AliasChoices:
    """``AIMIS_SMS_<NAME>``, or the name it had when only patients' codes went by SMS."""
    return AliasChoices(f"AIMIS_SMS_{name}", f"AIMIS_PATIENT_SMS_{name}")


class SmsSettings(BaseSettings):
    """The platform's text messages (Tencent Cloud SMS): a patient's login code (SPEC 10.1),
    the code that binds a staff account's phone number (SPEC 1.4). Unset: the codes go to the
    log channel (the demo). ``AIMIS_SMS_*``; the former ``AIMIS_PATIENT_SMS_*`` names are
    still read."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    secret_id: str = Field(
        "",
        validation_alias=_sms_env("SECRET_ID"),
        description="Tencent Cloud SecretId; empty: codes go to the log.",
    )
    secret_key: SecretStr = Field(
        SecretStr(""),
        validation_alias=_sms_env("SECRET_KEY"),
        description="Tencent Cloud SecretKey.",
    )
    sdk_app_id: str = Field(
        "", validation_alias=_sms_env("SDK_APP_ID"), description="SmsSdkAppId (1400…)."
    )
    sign_name: str = Field(
        "",
        validation_alias=_sms_env("SIGN_NAME"),
        description="Approved SMS signature (签名) content.",
    )
    template_id: str = Field(
        "",
        validation_alias=_sms_env("TEMPLATE_ID"),
        description="Approved template id; its parameters: {1} the code, {2} minutes.",
    )
    notice_template_id: str = Field(
        "",
        validation_alias=_sms_env("NOTICE_TEMPLATE_ID"),
        description="Approved template id of the cloud-film notice by text message (a "
        "patient without WeChat); its parameters: {1} the hospital, {2} the link. Empty: "
        "no such text is sent (the delivery log says why).",
    )
    region: str = Field(
        "ap-guangzhou",
        validation_alias=_sms_env("REGION"),
        description="X-TC-Region of the SendSms call.",
    )
    base_url: str = Field(
        "https://sms.tencentcloudapi.com",
        validation_alias=_sms_env("BASE_URL"),
        description="Tencent Cloud SMS API endpoint.",
    )

    @property
    def configured(self) -> bool:
        return bool(self.secret_id and self.sdk_app_id and self.template_id)


class RecordingSettings(BaseSettings):
    """Recorded videos (issue 16 point 3): the tus upload's limits."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_RECORDING_", extra="ignore")

    max_bytes: int = Field(4 * 1024**3, description="Largest recording one may upload.")
    chunk_bytes: int = Field(
        32 * 1024**2, description="Largest chunk (one tus PATCH request) of an upload."
    )


class TeachingSettings(BaseSettings):
    """Remote teaching (SPEC §5): reminders and when a learner has finished a course."""

    model_config = SettingsConfigDict(env_prefix="AIMIS_TEACHING_", extra="ignore")

    reminder_minutes: int = Field(
        30, description="The people in a course's range are reminded this long before it starts."
    )
    finished_share: float = Field(
        0.9,
        gt=0,
        le=1,
        description="A learner has finished a course when the intervals he actually watched "
        "cover this share of its recording (0.9: 90 %).",
    )


@dataclass(frozen=True)
class Settings:
    """All groups; ``Settings()`` reads every group from the environment. A test or a
    caller may pass a group of its own (``Settings(notify=NotifySettings(smtp_url=…))``)."""

    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    prefect: PrefectSettings = field(default_factory=PrefectSettings)
    login: LoginSettings = field(default_factory=LoginSettings)
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    consultation: ConsultationSettings = field(default_factory=ConsultationSettings)
    ward_round: WardRoundSettings = field(default_factory=WardRoundSettings)
    dicom: DicomSettings = field(default_factory=DicomSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    archive: ArchiveSettings = field(default_factory=ArchiveSettings)
    dispatch: DispatchSettings = field(default_factory=lambda: DispatchSettings())
    patient: PatientSettings = field(default_factory=PatientSettings)
    sms: SmsSettings = field(default_factory=SmsSettings)
    recording: RecordingSettings = field(default_factory=RecordingSettings)
    teaching: TeachingSettings = field(default_factory=TeachingSettings)

    @property
    def sqlite_path(self) -> Path:
        return self.server.data_dir / "aimis.sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.database.url.startswith(("postgres://", "postgresql://"))

    @property
    def prefect_api(self) -> str:
        return self.prefect.api_url or f"http://{self.server.host}:{self.prefect.port}/api"

    @property
    def base_url(self) -> str:
        server = self.server
        return (server.public_url or f"http://{server.host}:{server.port}").rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
