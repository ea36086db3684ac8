"""OpenSSL's verification reason strings, as ``X509_verify_cert_error_string``
returns them in OpenSSL 3.4 (the version Kong master ships).

Only the errors that OpenSSL's chain verification can leave behind for the
inputs purekong handles are listed. The names are OpenSSL's ``X509_V_ERR_*``
names without the prefix, so the code in ``_chain.py`` reads like x509_vfy.c.
"""

UNSPECIFIED = "unspecified certificate verification error"
UNABLE_TO_GET_ISSUER_CERT = "unable to get issuer certificate"
UNABLE_TO_GET_ISSUER_CERT_LOCALLY = "unable to get local issuer certificate"
UNABLE_TO_VERIFY_LEAF_SIGNATURE = "unable to verify the first certificate"
DEPTH_ZERO_SELF_SIGNED_CERT = "self-signed certificate"
SELF_SIGNED_CERT_IN_CHAIN = "self-signed certificate in certificate chain"
CERT_CHAIN_TOO_LONG = "certificate chain too long"
CERT_SIGNATURE_FAILURE = "certificate signature failure"
# OpenSSL 3.6 and later append " or the system clock is incorrect"; 3.4 does not.
CERT_NOT_YET_VALID = "certificate is not yet valid"
CERT_HAS_EXPIRED = "certificate has expired"
ERROR_IN_CERT_NOT_BEFORE_FIELD = "format error in certificate's notBefore field"
ERROR_IN_CERT_NOT_AFTER_FIELD = "format error in certificate's notAfter field"
INVALID_CA = "invalid CA certificate"
PATH_LENGTH_EXCEEDED = "path length constraint exceeded"
INVALID_PURPOSE = "unsuitable certificate purpose"
KEYUSAGE_NO_CERTSIGN = "key usage does not include certificate signing"
UNHANDLED_CRITICAL_EXTENSION = "unhandled critical extension"
PERMITTED_VIOLATION = "permitted subtree violation"
EXCLUDED_VIOLATION = "excluded subtree violation"
UNSUPPORTED_CONSTRAINT_TYPE = "unsupported name constraint type"
UNSUPPORTED_NAME_SYNTAX = "unsupported or invalid name syntax"
EE_KEY_TOO_SMALL = "EE certificate key too weak"
CA_KEY_TOO_SMALL = "CA certificate key too weak"
CA_MD_TOO_WEAK = "CA signature digest algorithm too weak"
