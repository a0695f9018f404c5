# Stand-in for python:3.11.7-slim-bookworm, built by containers/base/build_bases.sh on a Debian minbase tree
# (no registry needed). What containers/cpu/Dockerfile takes from its base: `python3` and `pip` on PATH that
# install as root without a PEP 668 refusal (a venv, so Debian's own packages stay untouched), apt-get.
ARG ROOTFS=conviction-base/debian:bookworm-minbase
FROM ${ROOTFS}

LABEL conviction.stand-in-for="python:3.11.7-slim-bookworm" \
      org.opencontainers.image.title="conviction-base/cpu" \
      org.opencontainers.image.description="Local stand-in base from Debian packages (containers/base/build_bases.sh); not python:3.11.7-slim-bookworm, never push"

# PIP_CERT / REQUESTS_CA_BUNDLE / SSL_CERT_FILE: pip trusts the image's bundle (the host's CAs) rather
# than its vendored certifi.
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/python \
    && /opt/python/bin/python3 -m pip --version

CMD ["python3"]
