#!/bin/sh
# Plays a CI job that publishes with Trusted Publishing, the way pypa/gh-action-pypi-publish does on GitHub Actions:
# ask the index for its audience, ask the CI's issuer for an OIDC token with that audience, exchange it for an
# upload token, and upload with twine. The issuer's side comes from the same variables GitHub Actions sets.
#
# usage: ci-publish.sh INDEX_URL FILE...   (ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN set)
set -eu
index=$1
shift
json() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

audience=$(curl -fsS "$index/_/oidc/audience" | json audience)
oidc=$(curl -fsS -H "Authorization: bearer $ACTIONS_ID_TOKEN_REQUEST_TOKEN" "$ACTIONS_ID_TOKEN_REQUEST_URL&audience=$audience" | json value)
answer=$(curl -sS -X POST -H 'Content-Type: application/json' --data "{\"token\": \"$oidc\"}" "$index/_/oidc/mint-token")
case $answer in
*'"success":true'*) ;;
*) echo "mint-token refused: $answer" >&2; exit 1 ;;
esac
token=$(printf '%s' "$answer" | json token)
# A second exchange of the same OIDC token must be refused: each mints once.
replay=$(curl -sS -o /dev/null -w '%{http_code}' -X POST --data "{\"token\": \"$oidc\"}" "$index/_/oidc/mint-token")
[ "$replay" = 422 ] || { echo "a replayed OIDC token was answered $replay" >&2; exit 1; }
TWINE_USERNAME=__token__ TWINE_PASSWORD=$token twine upload --non-interactive --disable-progress-bar \
	--repository-url "$index/legacy/" "$@"
