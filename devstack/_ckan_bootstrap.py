"""Create the stack's CKAN users and API tokens; runs inside CKAN's own virtualenv.

Usage: ``<ckan-venv>/bin/python _ckan_bootstrap.py <ckan.ini>`` with a JSON request on stdin::

    {"users": [{"name": "harvest_admin", "email": "...", "password": "...",
                "sysadmin": true, "token": "<previous token or null>"}]}

Prints one line ``DEVSTACK-RESULT {"harvest_admin": "<token>", ...}`` on stdout. It is
idempotent: existing users are kept (their password is reset to the requested one, so the
stack's credentials file stays right), and a previous token is reused while it is valid.

One process does all of it because each CKAN start-up costs 2-3 s; ``ckan user add``,
``ckan sysadmin add`` and ``ckan user token add`` would pay that once per call. Secrets go
through stdin/stdout, never through the command line (visible in ``ps``).
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> None:
    request: dict[str, Any] = json.load(sys.stdin)

    from ckan.cli import load_config  # type: ignore[import-not-found]
    from ckan.config.middleware import make_app  # type: ignore[import-not-found]

    app = make_app(load_config(sys.argv[1]))

    import ckan.lib.api_token as api_token  # type: ignore[import-not-found]
    import ckan.logic as logic  # type: ignore[import-not-found]
    import ckan.model as model  # type: ignore[import-not-found]

    tokens: dict[str, str] = {}
    # Like ckan.cli.user: user dictization checks the current user, so it needs a request.
    with app._wsgi_app.test_request_context():
        site_user = logic.get_action("get_site_user")({"ignore_auth": True}, {})
        for spec in request["users"]:
            context = {"ignore_auth": True, "user": site_user["name"]}
            user = model.User.by_name(spec["name"])
            if user is None:
                logic.get_action("user_create")(
                    context,
                    {
                        "name": spec["name"],
                        "email": spec["email"],
                        "password": spec["password"],
                        "fullname": spec.get("fullname", spec["name"]),
                    },
                )
                user = model.User.by_name(spec["name"])
            else:
                user.password = spec["password"]  # the model hashes it on assignment
            user.sysadmin = bool(spec.get("sysadmin"))
            model.Session.add(user)
            model.Session.commit()

            previous = spec.get("token")
            owner = api_token.get_user_from_token(previous) if previous else None
            if owner is not None and owner.id == user.id:
                tokens[spec["name"]] = previous
            else:
                created = logic.get_action("api_token_create")(
                    {"ignore_auth": True, "user": site_user["name"]},
                    {"user": spec["name"], "name": "devstack"},
                )
                tokens[spec["name"]] = created["token"]
    sys.stdout.write("DEVSTACK-RESULT " + json.dumps(tokens) + "\n")


if __name__ == "__main__":
    main()
