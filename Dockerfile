# One image for every Lodge process: `lodge gateway`, `lodge service NAME`, `lodge migrate`.
FROM python:3.11-slim-bookworm

# libmagic for content sniffing, xmlsec1 for SAML's XML signatures; nothing is compiled here
# (every wheel is binary)
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 xmlsec1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin lodge

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY lodge lodge
COPY kernel kernel
COPY services services
COPY gateway gateway
# editable, so that templates, migrations and message catalogues are read from /app
RUN pip install --no-cache-dir --disable-pip-version-check -c constraints.txt -e .

USER 10001
ENV PYTHONUNBUFFERED=1 \
    LODGE_DATA_DIR=/tmp/lodge \
    LODGE_GATEWAY_BIND=0.0.0.0:8000
EXPOSE 8000
ENTRYPOINT ["lodge"]
CMD ["gateway"]
