"""Ids in paths. One outside the id pattern names no record: `api.errors` answers it 404."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi import Path

from csm.domain.policy import POLICY_STREAM_ID
from csm.domain.values import ID_PATTERN

PathId = Annotated[str, Path(pattern=ID_PATTERN, description="an id: [A-Za-z0-9_.:-]{1,64}")]
# The audit also reads the policy stream, whose id lies outside the client pattern on purpose.
StreamId = Annotated[str, Path(
    pattern=rf"^(?:{ID_PATTERN[1:-1]}|{re.escape(POLICY_STREAM_ID)})$",
    description=f"a record's id, or `{POLICY_STREAM_ID}` for the policy")]
