"""Shared package of the OCI Functions bundle.

One module per concern: ``settings``, ``auth``, ``secrets``, ``streaming``,
``records``, ``store``, ``responses``, ``logs``, ``errors``, and the logic of
each function in ``publishing``, ``drain`` and ``secret_access``.
"""

from __future__ import annotations

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
