"""Runs scim2-tester's `check_server` against a SCIM base URL and prints its results as JSON.

Usage: python run_scim2_tester.py BASE_URL TOKEN
Prints one JSON object on stdout: {"version": ..., "results": [{title, status, reason,
resource_type, tags, data}, ...]}. Random choices of the tool (booleans, enum values) are
seeded (SCIM2_TESTER_SEED, default 7643) so that every run sends the same shapes of requests.
"""

import json
import os
import random
import sys
from importlib.metadata import version

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server


def main() -> None:
    base_url, token = sys.argv[1], sys.argv[2]
    random.seed(int(os.environ.get("SCIM2_TESTER_SEED", "7643")))
    http = Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )
    results = check_server(SyncSCIMClient(http))
    out = []
    for r in results:
        data = None if r.data is None else repr(r.data)
        if data is not None and len(data) > 2000:
            data = data[:2000] + "…"
        out.append(
            {
                "title": r.title,
                "status": r.status.name,
                "reason": r.reason,
                "resource_type": r.resource_type,
                "tags": sorted(r.tags),
                "data": data,
            }
        )
    json.dump({"version": version("scim2-tester"), "results": out}, sys.stdout)


if __name__ == "__main__":
    main()
