# A tar whose file carries security.capability (cap_net_raw+ep, v2) and a user xattr, written by python tarfile.
set -e
python3 - <<'PY'
import tarfile, io
cap = bytes([0,0,0,2, 0,0x20,0,0, 0,0x20,0,0, 0,0,0,0, 0,0,0,0])
t = tarfile.open("caps.tar", "w", format=tarfile.PAX_FORMAT)
i = tarfile.TarInfo("ping"); data = b"#!/bin/sh\necho ping\n"; i.size = len(data); i.mode = 0o755; i.mtime = 1600000000
i.pax_headers = {"SCHILY.xattr.security.capability": cap.decode("latin-1"), "SCHILY.xattr.user.note": "hello"}
t.addfile(i, io.BytesIO(data)); t.close()
PY
