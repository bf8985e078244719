# The operator image: the shared library and all five services, for the
# one-shot job that declares the event queues and for torget-dead-letters.
# Build from the repository root: docker build -f deploy/tools.Dockerfile .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app

COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock

COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir --no-deps ./shared ./services/identity ./services/school-directory \
    ./services/messaging ./services/attendance ./services/documents

RUN useradd --create-home --uid 10001 torget
USER torget

CMD ["torget-declare-queues", \
     "torget_identity.service:IdentityService", \
     "torget_school_directory.service:SchoolDirectoryService", \
     "torget_messaging.service:MessagingService", \
     "torget_attendance.service:AttendanceService", \
     "torget_documents.service:DocumentsService"]
