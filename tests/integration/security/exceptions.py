"""What the SPEC lets an account of another hospital see of, or do to, hospital A's data: the
matrix's only exceptions, each with its reason. Anything not named here is a leak."""

from __future__ import annotations

REMOTE_DIAGNOSIS = (
    "SPEC 2.2: an open remote diagnosis request shares the examination and its images with "
    "the diagnosing hospital (West), whose doctors and admin see it in their list"
)
CONSULTATION_EXPERT = (
    "SPEC 3.1-3.3: an invited expert reads the consultation, its patient and its files"
)
CONSULTATION_LOG = (
    "SPEC 8.10: a hospital admin's consultation log lists the consultations his hospital is "
    "invited to (their topic)"
)

# account -> canary -> why the account may see it
MAY_SEE: dict[str, dict[str, str]] = {
    "dr.liu": {"P2": REMOTE_DIAGNOSIS, "P3": CONSULTATION_EXPERT},
    "dr.zhao": {"P2": REMOTE_DIAGNOSIS},
    "admin.west": {"P2": REMOTE_DIAGNOSIS, "P3": CONSULTATION_LOG},
}

REPORT = "/api/exams/{exam_id:int}/report"
TARGET_ACTS = (
    "SPEC 2.2/2.4: the diagnosing hospital accepts or rejects the request and writes, "
    "reviews and prints the report; calling these would change the canary"
)
TARGET_WRITES = {
    ("POST", "/api/diagnosis-requests/{request_id:int}/accept"),
    ("POST", "/api/diagnosis-requests/{request_id:int}/reject"),
    ("PUT", REPORT),
    ("POST", REPORT + "/lock"),
    ("DELETE", REPORT + "/lock"),
    ("POST", REPORT + "/lock/release"),
    ("POST", REPORT + "/submit"),
    ("POST", REPORT + "/approve"),
    ("POST", REPORT + "/return"),
    ("POST", REPORT + "/print"),
}
CONSULTATION = "/api/consultations/{consultation_id:int}"
EXPERT_ACTS = (
    "SPEC 3.2/3.5: the invited expert decides for his department, and as a participant adds "
    "files and writes the report; calling these would change the canary"
)
EXPERT_WRITES = {
    ("POST", CONSULTATION + "/decisions"),
    ("POST", CONSULTATION + "/expert"),
    ("POST", CONSULTATION + "/attachments"),
    ("POST", CONSULTATION + "/report/lock"),
    ("DELETE", CONSULTATION + "/report/lock"),
    ("PUT", CONSULTATION + "/report"),
    ("POST", CONSULTATION + "/report/submit"),
}
# (account, canary) -> the writes the exception lets it make, and why they are not called
MAY_DO: dict[tuple[str, str], tuple[set[tuple[str, str]], str]] = {
    ("dr.liu", "P2"): (TARGET_WRITES, TARGET_ACTS),
    ("dr.zhao", "P2"): (TARGET_WRITES, TARGET_ACTS),
    ("admin.west", "P2"): (TARGET_WRITES, TARGET_ACTS),
    ("dr.liu", "P3"): (EXPERT_WRITES, EXPERT_ACTS),
}

ADMINISTERS = (
    "SPEC 1.6/8.1: the alliance admin administers the hospitals, their admins and their "
    "settings (review rule, DICOM nodes, storage policy runs, API tokens' revocation), not "
    "their patients; calling these would change hospital A"
)
MANAGE = "/api/manage"
ALLIANCE_WRITES = {
    ("PATCH", MANAGE + "/hospitals/{hospital_id:int}"),
    ("PUT", MANAGE + "/hospitals/{hospital_id:int}/modules"),
    ("POST", MANAGE + "/hospitals/{hospital_id:int}/admins"),
    ("POST", MANAGE + "/hospitals/{hospital_id:int}/logo"),
    ("POST", MANAGE + "/admins/{user_id:int}/activate"),
    ("POST", MANAGE + "/admins/{user_id:int}/deactivate"),
    ("POST", MANAGE + "/admins/{user_id:int}/freeze"),
    ("POST", MANAGE + "/admins/{user_id:int}/unfreeze"),
    ("POST", MANAGE + "/admins/{user_id:int}/reset-password"),
    ("PUT", MANAGE + "/hospitals/{hospital_id:int}/self-review"),
    ("DELETE", "/api/tokens/{token_id:int}"),
    ("POST", "/api/archive/policy/run"),
    ("PATCH", "/api/ingest/nodes/{node_id:int}"),
    ("DELETE", "/api/ingest/nodes/{node_id:int}"),
}
MAY_DO_ANYWHERE: dict[str, tuple[set[tuple[str, str]], str]] = {
    "alliance.admin": (ALLIANCE_WRITES, ADMINISTERS),
}


def skipped(account: str, method: str, path: str, owner: str) -> str:
    """Why this call is not made ("" when it is)."""
    allowed = [MAY_DO.get((account, owner)), MAY_DO_ANYWHERE.get(account)]
    for entry in allowed:
        if entry and (method, path) in entry[0]:
            return entry[1]
    return ""


def visible_markers(account: str) -> set[str]:
    """The canaries ``account`` may see (by key)."""
    return set(MAY_SEE.get(account, {}))


ECHOES = (
    "a hospital's audit log records its own users' refused requests with the path they sent; "
    "the UIDs in it are the ones this matrix gave them (names and IDs are still checked)"
)
# routes whose answer may repeat UIDs the account's hospital sent in earlier requests
ECHOES_UIDS: dict[tuple[str, str], str] = {
    ("GET", "/api/manage/audit/"): ECHOES,
    ("GET", "/api/manage/audit"): ECHOES,
    ("GET", "/api/manage/audit/export.csv"): ECHOES,
    ("GET", "/manage/audit"): ECHOES,
}
