//! The domain model's errors, one variant per API error code family.

/// A refusal by the domain model. Each variant maps 1:1 to an API error code (`code()`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The service does not exist (or is invisible to the caller).
    #[error("The specified endpoint service {0} does not exist.")]
    EndpointServiceNotFound(String),
    /// The caller is not in the service's whitelist.
    #[error(
        "The account is not authorized to use endpoint service {0}: it is not in the service's whitelist."
    )]
    EndpointServiceNotAuthorized(String),
    /// Endpoint connections still use the service or the resource.
    #[error("{0}")]
    EndpointServiceConnectionDependence(String),
    /// Resources are still attached to the service.
    #[error("The endpoint service {0} still has service resources attached: detach them first.")]
    EndpointServiceDependenceViolation(String),
    /// The resource is already attached to the service in that zone.
    #[error("The resource {0} is already attached to the endpoint service in zone {1}.")]
    EndpointServiceResourceExist(String, String),
    /// Every zone must keep one auto-allocatable resource, or a replacement's precondition fails.
    #[error("{0}")]
    ResourceAutoAllocateViolation(String),
    /// No such endpoint.
    #[error("The specified endpoint {0} does not exist.")]
    EndpointNotFound(String),
    /// No connection between that service and that endpoint.
    #[error("The endpoint connection between service {0} and endpoint {1} does not exist.")]
    EndpointConnectionNotFound(String, String),
    /// The endpoint cannot do that while something depends on it.
    #[error("{0}")]
    EndpointDependenceViolation(String),
    /// The requested ENI address is outside the vSwitch, reserved, or in use.
    #[error("The IP address {0} is not available in vSwitch {1}: {2}.")]
    EniIpUnavailable(String, String, &'static str),
    /// The vSwitch has no free address.
    #[error("The vSwitch {0} has no free IP address left.")]
    VSwitchIpExhausted(String),
    /// The object is not in a state that allows the operation (`IncorrectStatus.<Object>`).
    #[error("The {0} is in status {1}, which does not allow this operation.")]
    IncorrectStatus(&'static str, String),
    /// An object named by the request does not exist (`ResourceNotFound.<Object>`).
    #[error("The specified {0} {1} does not exist.")]
    ResourceNotFound(&'static str, String),
    /// A required parameter is missing (`MissingParam.<Name>`).
    #[error("The parameter {0} is required.")]
    MissingParam(&'static str),
    /// A parameter has an invalid value (`IllegalParam.<Name>`).
    #[error("The parameter {0} is invalid: {1}")]
    IllegalParam(&'static str, String),
    /// Two parameters or objects do not match (`Mismatch.<What>`).
    #[error("Mismatch: {1}")]
    Mismatch(&'static str, String),
    /// The caller does not own the object.
    #[error("{0}")]
    Forbidden(String),
    /// DryRun: every check passed, nothing was changed.
    #[error("Request validation has been passed with DryRun flag set.")]
    DryRunOperation,
}

impl ModelError {
    /// The API's error code.
    #[must_use]
    pub fn code(&self) -> String {
        match self {
            Self::EndpointServiceNotFound(_) => "EndpointServiceNotFound".into(),
            Self::EndpointServiceNotAuthorized(_) => "EndpointServiceNotAuthorized".into(),
            Self::EndpointServiceConnectionDependence(_) => {
                "EndpointServiceConnectionDependence".into()
            }
            Self::EndpointServiceDependenceViolation(_) => {
                "EndpointServiceDependenceViolation".into()
            }
            Self::EndpointServiceResourceExist(..) => "EndpointServiceResourceExist".into(),
            Self::ResourceAutoAllocateViolation(_) => "ResourceAutoAllocateViolation".into(),
            Self::EndpointNotFound(_) => "EndpointNotFound".into(),
            Self::EndpointConnectionNotFound(..) => "EndpointConnectionNotFound".into(),
            Self::EndpointDependenceViolation(_) => "EndpointDependenceViolation".into(),
            Self::EniIpUnavailable(..) => "EniIpUnavailable".into(),
            Self::VSwitchIpExhausted(_) => "ResourceNotEnough.VSwitchIp".into(),
            Self::IncorrectStatus(o, _) => format!("IncorrectStatus.{o}"),
            Self::ResourceNotFound(o, _) => format!("ResourceNotFound.{o}"),
            Self::MissingParam(n) => format!("MissingParam.{n}"),
            Self::IllegalParam(n, _) => format!("IllegalParam.{n}"),
            Self::Mismatch(w, _) => format!("Mismatch.{w}"),
            Self::Forbidden(_) => "Forbidden".into(),
            Self::DryRunOperation => "DryRunOperation".into(),
        }
    }

    /// The HTTP status the API answers with.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::EndpointServiceNotFound(_)
            | Self::EndpointNotFound(_)
            | Self::EndpointConnectionNotFound(..)
            | Self::ResourceNotFound(..) => 404,
            Self::EndpointServiceNotAuthorized(_) | Self::Forbidden(_) => 403,
            _ => 400,
        }
    }
}
