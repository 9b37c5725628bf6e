"""OpenTofu/Terraform as a second source of drift.

Drift is found with `tofu plan -refresh-only`; each drifted attribute is mapped to the HCL text
that sets it, the smallest edit that makes that text say the live value is spliced into the file
(comments and formatting elsewhere untouched), and a second `plan` verifies the result.
"""
