# Stand-in for nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04, built by containers/base/build_bases.sh on a
# Debian minbase tree (no registry needed). What containers/gpu/Dockerfile takes from its base: apt-get that
# installs python3.11, python3.11-venv and libgomp1 (bookworm has all three). No CUDA libraries: PyPI's
# torch wheel brings its own, and only the host's driver comes from outside the image.
ARG ROOTFS=conviction-base/debian:bookworm-minbase
FROM ${ROOTFS}

LABEL conviction.stand-in-for="nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04" \
      org.opencontainers.image.title="conviction-base/gpu" \
      org.opencontainers.image.description="Local stand-in base from Debian packages (containers/base/build_bases.sh); not nvidia/cuda, no CUDA libraries, never push"

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# apt-get works: the package lists come and go in one layer, as the GPU Dockerfile expects.
RUN apt-get update && apt-cache show python3.11 python3.11-venv libgomp1 >/dev/null && rm -rf /var/lib/apt/lists/*

CMD ["bash"]
