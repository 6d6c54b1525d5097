#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored) at run time: the SIP torture messages are read
# from ../shared/sip-torture/ (RFC 4475, RFC 5118) and never copied into the project.
#
#   fuzz/seed.sh [TORTURE_DIR]
set -euo pipefail
cd "$(dirname "$0")"
TORTURE=${1:-../../shared/sip-torture}
if [ ! -d "$TORTURE" ]; then
  echo "*** no torture messages at $TORTURE: seeding SIP targets with built-in messages only ***" >&2
fi
mkdir -p corpus/sip_roundtrip corpus/tcp_framing corpus/snippet_json corpus/lead_json

INVITE=$'INVITE sip:74950000001@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1;rport\r\nf: "Caller" <sip:79161234567@127.0.0.1>;tag=a\r\nt: <sip:74950000001@127.0.0.1>\r\ni: seed-1@host\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nm: <sip:79161234567@127.0.0.1:5070;transport=tcp>\r\nc: application/sdp\r\nl: 6\r\n\r\nv=0\r\n\r\n'
OK=$'SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=a\r\nTo: <sip:c@d>;tag=b\r\nCall-ID: seed-1@host\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n'
printf '%s' "$INVITE" > corpus/sip_roundtrip/builtin-invite
printf '%s' "$OK" > corpus/sip_roundtrip/builtin-200
# tcp_framing: first byte = number of split bytes (mod 16), then the split steps, then the stream.
printf '\x03\x10\x80\x05%s\r\n\r\n%s' "$INVITE" "$OK" > corpus/tcp_framing/builtin-stream

if [ -d "$TORTURE" ]; then
  n=0
  while IFS= read -r -d '' f; do
    name=$(basename "$f" .dat)
    cp "$f" "corpus/sip_roundtrip/torture-$name"
    { printf '\x02\x40\x11'; cat "$f"; printf '\r\n\r\n%s' "$INVITE"; } > "corpus/tcp_framing/torture-$name"
    n=$((n + 1))
  done < <(find "$TORTURE" -type f ! -name '*.md' -print0)
  echo "seeded $n torture messages into sip_roundtrip and tcp_framing"
fi

j=corpus/snippet_json
printf '%s' '{"page_url":"https://shop.example/?utm_source=google&utm_medium=cpc&gclid=abc"}' > $j/paid
printf '%s' '{"page_url":"https://shop.example/landing?utm_source=yandex&utm_campaign=spring%20sale&yclid=1","visitor_id":"v-1","referrer":"https://yandex.ru/search?text=x","ga_client_id":"GA1.2.3.4","ga_session_id":"1700000000","ym_client_id":"1234567890"}' > $j/full
printf '%s' '{"page_url":"https://shop.example/","referrer":"https://www.google.com/"}' > $j/organic
printf '%s' '{"page_url":""}' > $j/empty-url
printf '%s' '{"page_url":"https://shop.example/?utm_source=%E2%98%83\u0000\r\nX-CT-Source: evil"}' > $j/injection
printf '%s' '{"visitor_id":null,"page_url":"/relative?utm_source=fb&utm_term=a+b"}' > $j/relative
echo "seeded 6 JSON bodies into snippet_json"

# lead_json: the first byte picks the content type (even: application/json, odd: text/plain).
l=corpus/lead_json
printf '%s' '{"name":"Anna","phone":"+7 (916) 111-22-33","email":"Anna@Example.COM","message":"call me","fields":{"city":"Moscow"}}' > $l/full
printf '%s' ' {"email":"a@b.ru"}' > $l/beacon-email
printf '%s' '{"phone":"call me","email":"nobody","fields":{"":"x"}}' > $l/bad
printf '%s' '{"name":"no contact"}' > $l/no-contact
echo "seeded 4 JSON bodies into lead_json"
