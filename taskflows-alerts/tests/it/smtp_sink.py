"""aiosmtpd handler for the email tests: one JSON line on stdout per received message.

Run as `python3 -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.JsonLines` with this folder on
PYTHONPATH.
"""

import base64
import email
import email.policy
import json
import sys


from aiosmtpd.smtp import AuthResult, LoginPassword

# the only login AUTH PLAIN accepts (aiosmtpd offers AUTH only after STARTTLS)
LOGIN = (b"tf@example.com", b"s3cret")


class JsonLines:
    async def auth_PLAIN(self, server, args):
        # handled=False: aiosmtpd answers a refusal with 535 itself
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        _, login, password = base64.b64decode(args[1]).split(b"\0")
        ok = (login, password) == LOGIN
        return AuthResult(success=ok, handled=False, auth_data=LoginPassword(login, password))

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = []
        for part in message.walk():
            if part.get_content_maintype() == "multipart":
                continue
            parts.append({"type": part.get_content_type(), "content": part.get_content()})
        record = {
            # the EHLO/HELO name the client greeted with
            "helo": session.host_name,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "login": session.login_data.decode() if session.login_data else None,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "parts": parts,
        }
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
        return "250 OK"
