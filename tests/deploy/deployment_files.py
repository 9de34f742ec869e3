"""Paths and constants shared by the deployment-file tests."""

from __future__ import annotations

from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
FUNCTION_NAMES = ("publish-message", "drain-stream-to-db", "read-secret")

# a syntactically valid API-key config; the clients built from it only
# deserialize, they never send a request
OFFLINE_CONFIG = {
    "user": "ocid1.user.oc1..offline",
    "tenancy": "ocid1.tenancy.oc1..offline",
    "fingerprint": "11:22:33:44:55:66:77:88:99:00:aa:bb:cc:dd:ee:ff",
    "key_file": "unused.pem",
    "region": "us-ashburn-1",
}
