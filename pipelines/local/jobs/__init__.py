"""Jobs run on the host Python with the container's `/opt/ml` mapped to a job folder."""
