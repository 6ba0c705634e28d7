"""Admission webhooks (admissionregistration.k8s.io/v1): users plug in their own policy."""

from .dispatch import WebhookAdmission

__all__ = ["WebhookAdmission"]
