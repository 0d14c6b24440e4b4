//! The API half of the CLI: day-to-day provider and consumer operations.

use clap::{Args, Subcommand, ValueEnum};
use serde_json::Value;

use super::CliError;
use super::output::Output;
use crate::client::Client;

type R = Result<(), CliError>;
type P = Vec<(&'static str, String)>;

/// A resource in a zone, written `RESOURCE@ZONE`.
#[derive(Debug, Clone)]
pub struct ResAtZone {
    /// LB id.
    pub id: String,
    /// Zone.
    pub zone: String,
}

fn res_at_zone(s: &str) -> Result<ResAtZone, String> {
    let (id, zone) = s
        .split_once('@')
        .ok_or_else(|| format!("{s:?}: expected RESOURCE@ZONE, e.g. nlb-prov1@cn-hangzhou-a"))?;
    Ok(ResAtZone {
        id: id.into(),
        zone: zone.into(),
    })
}

/// An endpoint zone, written `ZONE:VSWITCH[:IP]`.
#[derive(Debug, Clone)]
pub struct ZoneArg {
    /// Zone.
    pub zone: String,
    /// vSwitch.
    pub vswitch: String,
    /// Requested address.
    pub ip: Option<String>,
}

fn zone_arg(s: &str) -> Result<ZoneArg, String> {
    let mut it = s.splitn(3, ':');
    match (it.next(), it.next(), it.next()) {
        (Some(z), Some(v), ip) if !z.is_empty() && !v.is_empty() => Ok(ZoneArg {
            zone: z.into(),
            vswitch: v.into(),
            ip: ip.map(str::to_owned),
        }),
        _ => Err(format!(
            "{s:?}: expected ZONE:VSWITCH[:IP], e.g. cn-hangzhou-a:vsw-c1a"
        )),
    }
}

fn type_of(id: &str) -> &'static str {
    if id.starts_with("nlb-") {
        "nlb"
    } else if id.starts_with("alb-") {
        "alb"
    } else {
        "slb"
    }
}

/// Resource types on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TypeArg {
    /// Network load balancer.
    Nlb,
    /// Application load balancer.
    Alb,
    /// Classic load balancer (`slb` in the API).
    Clb,
}

impl TypeArg {
    fn api(self) -> &'static str {
        match self {
            Self::Nlb => "nlb",
            Self::Alb => "alb",
            Self::Clb => "slb",
        }
    }
}

/// Migration modes.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReplaceArg {
    /// New ENI, old path drains (smooth migration).
    Graceful,
    /// Cut over at once.
    Force,
}

/// `eplink service …`
#[derive(Debug, Subcommand)]
pub enum ServiceCmd {
    /// Create an endpoint service.
    Create(CreateServiceArgs),
    /// List my services.
    List,
    /// Services I may connect to (whitelisted for me).
    Available,
    /// Show a service with its resources and whitelist.
    Show {
        /// Service id.
        service: String,
    },
    /// Change a service.
    Update(UpdateServiceArgs),
    /// Delete a service (after disconnecting endpoints and detaching resources).
    Delete {
        /// Service id.
        service: String,
    },
}

/// `eplink service create` arguments.
#[derive(Debug, Args)]
#[expect(clippy::struct_excessive_bools, reason = "one flag per API boolean")]
pub struct CreateServiceArgs {
    /// Resource type.
    #[arg(long = "type", value_enum)]
    pub rtype: TypeArg,
    /// Resources, `RESOURCE@ZONE` (repeatable).
    #[arg(long = "resource", value_parser = res_at_zone)]
    pub resources: Vec<ResAtZone>,
    /// Accept connections automatically.
    #[arg(long)]
    pub auto_accept: bool,
    /// Zone affinity for endpoint domain names.
    #[arg(long)]
    pub zone_affinity: bool,
    /// IPv4 and IPv6.
    #[arg(long)]
    pub dual_stack: bool,
    /// The provider pays (`EndpointService`) instead of the consumer.
    #[arg(long)]
    pub provider_pays: bool,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
}

/// `eplink service update` arguments.
#[derive(Debug, Args)]
pub struct UpdateServiceArgs {
    /// Service id.
    pub service: String,
    /// Auto-accept new connections.
    #[arg(long)]
    pub auto_accept: Option<bool>,
    /// Zone affinity.
    #[arg(long)]
    pub zone_affinity: Option<bool>,
    /// Default per-connection bandwidth for new CLB connections (Mbps).
    #[arg(long)]
    pub connect_bandwidth: Option<u32>,
    /// Description.
    #[arg(long)]
    pub description: Option<String>,
}

/// `eplink whitelist …`
#[derive(Debug, Subcommand)]
pub enum WhitelistCmd {
    /// List entries.
    List {
        /// Service id.
        service: String,
    },
    /// Admit an account UID, or `*` for everyone.
    Add {
        /// Service id.
        service: String,
        /// UID or `*`.
        user: String,
    },
    /// Remove an entry.
    Remove {
        /// Service id.
        service: String,
        /// UID or `*`.
        user: String,
    },
}

/// `eplink resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCmd {
    /// List resources of a service.
    List {
        /// Service id.
        service: String,
    },
    /// Attach `RESOURCE@ZONE`.
    Attach {
        /// Service id.
        service: String,
        /// `RESOURCE@ZONE`.
        #[arg(value_parser = res_at_zone)]
        resource: ResAtZone,
    },
    /// Detach `RESOURCE@ZONE` (never deletes the load balancer).
    Detach {
        /// Service id.
        service: String,
        /// `RESOURCE@ZONE`.
        #[arg(value_parser = res_at_zone)]
        resource: ResAtZone,
    },
    /// Turn automatic allocation of a resource on or off.
    AutoAllocate {
        /// Service id.
        service: String,
        /// `RESOURCE@ZONE`.
        #[arg(value_parser = res_at_zone)]
        resource: ResAtZone,
        /// on/off.
        #[arg(action = clap::ArgAction::Set)]
        enabled: bool,
    },
}

/// `eplink connection …`
#[derive(Debug, Subcommand)]
pub enum ConnectionCmd {
    /// List connections to my services.
    List {
        /// Only this service.
        #[arg(long)]
        service: Option<String>,
    },
    /// Allow (accept) a connection, optionally with a bandwidth limit (Mbps).
    Allow {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
        /// Bandwidth limit in Mbps.
        #[arg(long)]
        bandwidth: Option<u32>,
    },
    /// Reject or disconnect a connection.
    Reject {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
    },
    /// Set the per-connection bandwidth limit (Mbps).
    Bandwidth {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
        /// Mbps.
        mbps: u32,
    },
}

/// `eplink zone-connection …`
#[derive(Debug, Subcommand)]
pub enum ZoneConnectionCmd {
    /// Disconnect one zone (or, with --replaced, drop the old path after a smooth migration).
    Disable {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
        /// Zone.
        zone: String,
        /// Drop the replaced resource's path only.
        #[arg(long)]
        replaced: bool,
    },
    /// Reconnect a disconnected zone.
    Enable {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
        /// Zone.
        zone: String,
    },
    /// Set how the zone picks its resource; with --replace, migrate a connected zone.
    Allocate {
        /// Service id.
        service: String,
        /// Endpoint id.
        endpoint: String,
        /// Zone.
        zone: String,
        /// Manual: this resource. Without it: automatic.
        #[arg(long)]
        resource: Option<String>,
        /// Migrate a connected zone to --resource.
        #[arg(long, value_enum)]
        replace: Option<ReplaceArg>,
    },
}

/// `eplink endpoint …`
#[derive(Debug, Subcommand)]
pub enum EndpointCmd {
    /// Create an interface endpoint.
    Create(CreateEndpointArgs),
    /// List my endpoints.
    List,
    /// Show an endpoint and its zones.
    Show {
        /// Endpoint id.
        endpoint: String,
    },
    /// Rename or describe an endpoint.
    Update {
        /// Endpoint id.
        endpoint: String,
        /// Name.
        #[arg(long)]
        name: Option<String>,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete an endpoint.
    Delete {
        /// Endpoint id.
        endpoint: String,
    },
    /// Add a zone `ZONE:VSWITCH[:IP]`.
    AddZone {
        /// Endpoint id.
        endpoint: String,
        /// `ZONE:VSWITCH[:IP]`.
        #[arg(value_parser = zone_arg)]
        zone: ZoneArg,
    },
    /// Remove a zone.
    RemoveZone {
        /// Endpoint id.
        endpoint: String,
        /// Zone.
        zone: String,
    },
    /// Attach a security group.
    AttachSg {
        /// Endpoint id.
        endpoint: String,
        /// Security group.
        sg: String,
    },
    /// Detach a security group.
    DetachSg {
        /// Endpoint id.
        endpoint: String,
        /// Security group.
        sg: String,
    },
}

/// `eplink endpoint create` arguments.
#[derive(Debug, Args)]
pub struct CreateEndpointArgs {
    /// Service id.
    #[arg(long, required_unless_present = "service_name")]
    pub service: Option<String>,
    /// Service name (verified against --service when both are given).
    #[arg(long)]
    pub service_name: Option<String>,
    /// VPC.
    #[arg(long)]
    pub vpc: String,
    /// Zones, `ZONE:VSWITCH[:IP]` (repeatable; two or more recommended).
    #[arg(long = "zone", value_parser = zone_arg, required = true)]
    pub zones: Vec<ZoneArg>,
    /// Security groups (repeatable).
    #[arg(long = "sg", required = true)]
    pub sgs: Vec<String>,
    /// Name.
    #[arg(long)]
    pub name: Option<String>,
    /// IPv4 and IPv6 (the service must be dual stack).
    #[arg(long)]
    pub dual_stack: bool,
    /// Zone affinity (the service must have it).
    #[arg(long)]
    pub zone_affinity: bool,
}

/// Every page of a list call.
fn all_pages(
    c: &Client,
    action: &str,
    params: &P,
    key: &str,
) -> Result<(Value, Vec<Value>), CliError> {
    let mut items = Vec::new();
    let mut token = String::new();
    let mut last;
    loop {
        let mut p: P = params.clone();
        p.push(("MaxResults", "50".into()));
        if !token.is_empty() {
            p.push(("NextToken", token.clone()));
        }
        last = c.call(action, &p)?;
        items.extend(last[key].as_array().cloned().unwrap_or_default());
        last["NextToken"].as_str().unwrap_or_default().clone_into(&mut token);
        if token.is_empty() {
            break;
        }
    }
    last[key] = Value::Array(items.clone());
    Ok((last, items))
}

fn tf(b: bool) -> String {
    if b { "True".into() } else { "False".into() }
}

/// `eplink service …`
#[expect(clippy::too_many_lines, reason = "one arm per subcommand")]
pub fn service(c: &Client, out: Output, cmd: &ServiceCmd) -> R {
    match cmd {
        ServiceCmd::Create(a) => {
            let mut p: P = vec![
                ("ServiceResourceType", a.rtype.api().into()),
                ("AutoAcceptEnabled", tf(a.auto_accept)),
                ("ZoneAffinityEnabled", tf(a.zone_affinity)),
                (
                    "AddressIpVersion",
                    if a.dual_stack { "DualStack" } else { "IPv4" }.into(),
                ),
                (
                    "Payer",
                    if a.provider_pays {
                        "EndpointService"
                    } else {
                        "Endpoint"
                    }
                    .into(),
                ),
            ];
            if let Some(d) = &a.description {
                p.push(("ServiceDescription", d.clone()));
            }
            let mut extra = Vec::new();
            for (i, r) in a.resources.iter().enumerate() {
                let n = i + 1;
                extra.push((format!("Resource.{n}.ResourceId"), r.id.clone()));
                extra.push((
                    format!("Resource.{n}.ResourceType"),
                    a.rtype.api().to_owned(),
                ));
                extra.push((format!("Resource.{n}.ZoneId"), r.zone.clone()));
            }
            let v = call_with(c, "CreateVpcEndpointService", &p, &extra)?;
            out.done(
                &v,
                &format!(
                    "{}\t{}",
                    v["ServiceId"].as_str().unwrap_or(""),
                    v["ServiceName"].as_str().unwrap_or("")
                ),
            );
        }
        ServiceCmd::List => {
            let (raw, items) = all_pages(c, "ListVpcEndpointServices", &vec![], "Services")?;
            out.list(
                &raw,
                &items,
                &[
                    ("SERVICE", "ServiceId"),
                    ("TYPE", "ServiceResourceType"),
                    ("STATUS", "ServiceStatus"),
                    ("AUTO-ACCEPT", "AutoAcceptEnabled"),
                    ("IP", "AddressIpVersion"),
                    ("PAYER", "Payer"),
                    ("NAME", "ServiceName"),
                ],
            );
        }
        ServiceCmd::Available => {
            let (raw, items) =
                all_pages(c, "ListVpcEndpointServicesByEndUser", &vec![], "Services")?;
            out.list(
                &raw,
                &items,
                &[
                    ("SERVICE", "ServiceId"),
                    ("TYPE", "ServiceResourceType"),
                    ("ZONES", "Zones"),
                    ("IP", "AddressIpVersion"),
                    ("NAME", "ServiceName"),
                ],
            );
        }
        ServiceCmd::Show { service } => {
            let v = c.call(
                "GetVpcEndpointServiceAttribute",
                &[("ServiceId", service.clone())],
            )?;
            out.object(&v);
            if !out.json {
                println!();
                let (raw, items) = all_pages(
                    c,
                    "ListVpcEndpointServiceResources",
                    &vec![("ServiceId", service.clone())],
                    "Resources",
                )?;
                out.list(&raw, &items, &resource_columns());
                println!();
                let (raw, items) = all_pages(
                    c,
                    "ListVpcEndpointServiceUsers",
                    &vec![
                        ("ServiceId", service.clone()),
                        ("UserListType", "UserARNs".into()),
                    ],
                    "UserARNs",
                )?;
                out.list(&raw, &items, &[("WHITELIST", "UserARN")]);
            }
        }
        ServiceCmd::Update(a) => {
            let mut p: P = vec![("ServiceId", a.service.clone())];
            if let Some(b) = a.auto_accept {
                p.push(("AutoAcceptEnabled", tf(b)));
            }
            if let Some(b) = a.zone_affinity {
                p.push(("ZoneAffinityEnabled", tf(b)));
            }
            if let Some(b) = a.connect_bandwidth {
                p.push(("ConnectBandwidth", b.to_string()));
            }
            if let Some(d) = &a.description {
                p.push(("ServiceDescription", d.clone()));
            }
            let v = c.call("UpdateVpcEndpointServiceAttribute", &p)?;
            out.done(&v, &format!("updated {}", a.service));
        }
        ServiceCmd::Delete { service } => {
            let v = c.call(
                "DeleteVpcEndpointService",
                &[("ServiceId", service.clone())],
            )?;
            out.done(&v, &format!("deleted {service}"));
        }
    }
    Ok(())
}

fn call_with(
    c: &Client,
    action: &str,
    p: &P,
    extra: &[(String, String)],
) -> Result<Value, CliError> {
    let mut all: Vec<(&str, String)> = p.iter().map(|(k, v)| (*k, v.clone())).collect();
    all.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    Ok(c.call(action, &all)?)
}

fn resource_columns() -> [(&'static str, &'static str); 6] {
    [
        ("RESOURCE", "ResourceId"),
        ("ZONE", "ZoneId"),
        ("VIP", "Ip"),
        ("AUTO", "AutoAllocatedEnabled"),
        ("CONNECTIONS", "RelatedEndpointCount"),
        ("DRAINING", "RelatedDeprecatedEndpointCount"),
    ]
}

fn user_params(user: &str) -> P {
    if user == "*" {
        vec![("UserARN", "*".into())]
    } else {
        vec![("UserId", user.into())]
    }
}

/// `eplink whitelist …`
pub fn whitelist(c: &Client, out: Output, cmd: &WhitelistCmd) -> R {
    match cmd {
        WhitelistCmd::List { service } => {
            let p = vec![
                ("ServiceId", service.clone()),
                ("UserListType", "UserARNs".into()),
            ];
            let (raw, items) = all_pages(c, "ListVpcEndpointServiceUsers", &p, "UserARNs")?;
            out.list(&raw, &items, &[("ENTRY", "UserARN")]);
        }
        WhitelistCmd::Add { service, user } => {
            let mut p = user_params(user);
            p.push(("ServiceId", service.clone()));
            let v = c.call("AddUserToVpcEndpointService", &p)?;
            out.done(&v, &format!("{user} may now use {service}"));
        }
        WhitelistCmd::Remove { service, user } => {
            let mut p = user_params(user);
            p.push(("ServiceId", service.clone()));
            let v = c.call("RemoveUserFromVpcEndpointService", &p)?;
            out.done(&v, &format!("{user} removed from {service}"));
        }
    }
    Ok(())
}

/// `eplink resource …`
pub fn resource(c: &Client, out: Output, cmd: &ResourceCmd) -> R {
    match cmd {
        ResourceCmd::List { service } => {
            let (raw, items) = all_pages(
                c,
                "ListVpcEndpointServiceResources",
                &vec![("ServiceId", service.clone())],
                "Resources",
            )?;
            out.list(&raw, &items, &resource_columns());
        }
        ResourceCmd::Attach { service, resource } => {
            let v = c.call(
                "AttachResourceToVpcEndpointService",
                &[
                    ("ServiceId", service.clone()),
                    ("ResourceId", resource.id.clone()),
                    ("ResourceType", type_of(&resource.id).into()),
                    ("ZoneId", resource.zone.clone()),
                ],
            )?;
            out.done(&v, &format!("attached {}@{}", resource.id, resource.zone));
        }
        ResourceCmd::Detach { service, resource } => {
            let v = c.call(
                "DetachResourceFromVpcEndpointService",
                &[
                    ("ServiceId", service.clone()),
                    ("ResourceId", resource.id.clone()),
                    ("ResourceType", type_of(&resource.id).into()),
                    ("ZoneId", resource.zone.clone()),
                ],
            )?;
            out.done(&v, &format!("detached {}@{}", resource.id, resource.zone));
        }
        ResourceCmd::AutoAllocate {
            service,
            resource,
            enabled,
        } => {
            let v = c.call(
                "UpdateVpcEndpointServiceResourceAttribute",
                &[
                    ("ServiceId", service.clone()),
                    ("ResourceId", resource.id.clone()),
                    ("ZoneId", resource.zone.clone()),
                    ("AutoAllocatedEnabled", tf(*enabled)),
                ],
            )?;
            out.done(
                &v,
                &format!(
                    "{}@{} auto-allocate {}",
                    resource.id,
                    resource.zone,
                    if *enabled { "on" } else { "off" }
                ),
            );
        }
    }
    Ok(())
}

/// `eplink connection …`
pub fn connection(c: &Client, out: Output, cmd: &ConnectionCmd) -> R {
    match cmd {
        ConnectionCmd::List { service } => {
            let p: P = service.iter().map(|s| ("ServiceId", s.clone())).collect();
            let (raw, items) = all_pages(c, "ListVpcEndpointConnections", &p, "Connections")?;
            if out.json {
                out.list(&raw, &items, &[]);
                return Ok(());
            }
            // one row per zone connection
            let mut rows = Vec::new();
            for conn in &items {
                for z in conn["Zones"].as_array().into_iter().flatten() {
                    let s = |v: &Value, k: &str| super::output::cell(&v[k]);
                    rows.push(vec![
                        s(conn, "ServiceId"),
                        s(conn, "EndpointId"),
                        s(conn, "EndpointOwnerId"),
                        s(conn, "ConnectionStatus"),
                        s(conn, "Bandwidth"),
                        s(z, "ZoneId"),
                        s(z, "ZoneStatus"),
                        s(z, "ResourceId"),
                        s(z, "ReplacedResourceId"),
                    ]);
                }
            }
            print!(
                "{}",
                super::output::table(
                    &[
                        "SERVICE",
                        "ENDPOINT",
                        "OWNER",
                        "CONNECTION",
                        "MBPS",
                        "ZONE",
                        "ZONE-STATE",
                        "RESOURCE",
                        "REPLACED"
                    ],
                    &rows,
                )
            );
        }
        ConnectionCmd::Allow {
            service,
            endpoint,
            bandwidth,
        } => {
            let mut p: P = vec![
                ("ServiceId", service.clone()),
                ("EndpointId", endpoint.clone()),
            ];
            if let Some(b) = bandwidth {
                p.push(("Bandwidth", b.to_string()));
            }
            let v = c.call("EnableVpcEndpointConnection", &p)?;
            out.done(&v, &format!("allowed {endpoint}"));
        }
        ConnectionCmd::Reject { service, endpoint } => {
            let v = c.call(
                "DisableVpcEndpointConnection",
                &[
                    ("ServiceId", service.clone()),
                    ("EndpointId", endpoint.clone()),
                ],
            )?;
            out.done(&v, &format!("disconnected {endpoint}"));
        }
        ConnectionCmd::Bandwidth {
            service,
            endpoint,
            mbps,
        } => {
            let v = c.call(
                "UpdateVpcEndpointConnectionAttribute",
                &[
                    ("ServiceId", service.clone()),
                    ("EndpointId", endpoint.clone()),
                    ("Bandwidth", mbps.to_string()),
                ],
            )?;
            out.done(&v, &format!("{endpoint}: {mbps} Mbps per zone ENI"));
        }
    }
    Ok(())
}

/// `eplink zone-connection …`
pub fn zone_connection(c: &Client, out: Output, cmd: &ZoneConnectionCmd) -> R {
    match cmd {
        ZoneConnectionCmd::Disable {
            service,
            endpoint,
            zone,
            replaced,
        } => {
            let v = c.call(
                "DisableVpcEndpointZoneConnection",
                &[
                    ("ServiceId", service.clone()),
                    ("EndpointId", endpoint.clone()),
                    ("ZoneId", zone.clone()),
                    ("ReplacedResource", tf(*replaced)),
                ],
            )?;
            out.done(
                &v,
                &format!(
                    "{endpoint} {zone}: {}",
                    if *replaced {
                        "old path dropped"
                    } else {
                        "disconnected"
                    }
                ),
            );
        }
        ZoneConnectionCmd::Enable {
            service,
            endpoint,
            zone,
        } => {
            let v = c.call(
                "EnableVpcEndpointZoneConnection",
                &[
                    ("ServiceId", service.clone()),
                    ("EndpointId", endpoint.clone()),
                    ("ZoneId", zone.clone()),
                ],
            )?;
            out.done(&v, &format!("{endpoint} {zone}: connected"));
        }
        ZoneConnectionCmd::Allocate {
            service,
            endpoint,
            zone,
            resource,
            replace,
        } => {
            let mut p: P = vec![
                ("ServiceId", service.clone()),
                ("EndpointId", endpoint.clone()),
                ("ZoneId", zone.clone()),
            ];
            match resource {
                Some(r) => {
                    p.push(("ResourceAllocateMode", "Manual".into()));
                    p.push(("ResourceId", r.clone()));
                    p.push(("ResourceType", type_of(r).into()));
                }
                None => p.push(("ResourceAllocateMode", "Auto".into())),
            }
            if let Some(m) = replace {
                if resource.is_none() {
                    return Err(CliError::Usage("--replace needs --resource".into()));
                }
                p.push((
                    "ResourceReplaceMode",
                    match m {
                        ReplaceArg::Graceful => "Graceful",
                        ReplaceArg::Force => "Force",
                    }
                    .into(),
                ));
            }
            let v = c.call("UpdateVpcEndpointZoneConnectionResourceAttribute", &p)?;
            out.done(
                &v,
                &format!(
                    "{endpoint} {zone}: allocation {}",
                    resource.as_deref().unwrap_or("auto")
                ),
            );
        }
    }
    Ok(())
}

/// `eplink endpoint …`
#[expect(clippy::too_many_lines, reason = "one arm per subcommand")]
pub fn endpoint(c: &Client, out: Output, cmd: &EndpointCmd) -> R {
    match cmd {
        EndpointCmd::Create(a) => {
            let mut p: P = vec![("VpcId", a.vpc.clone())];
            if let Some(s) = &a.service {
                p.push(("ServiceId", s.clone()));
            }
            if let Some(s) = &a.service_name {
                p.push(("ServiceName", s.clone()));
            }
            if let Some(n) = &a.name {
                p.push(("EndpointName", n.clone()));
            }
            p.push((
                "AddressIpVersion",
                if a.dual_stack { "DualStack" } else { "IPv4" }.into(),
            ));
            p.push(("ZoneAffinityEnabled", tf(a.zone_affinity)));
            let mut extra = Vec::new();
            for (i, sg) in a.sgs.iter().enumerate() {
                extra.push((format!("SecurityGroupId.{}", i + 1), sg.clone()));
            }
            for (i, z) in a.zones.iter().enumerate() {
                let n = i + 1;
                extra.push((format!("Zone.{n}.ZoneId"), z.zone.clone()));
                extra.push((format!("Zone.{n}.VSwitchId"), z.vswitch.clone()));
                if let Some(ip) = &z.ip {
                    extra.push((format!("Zone.{n}.ip"), ip.clone()));
                }
            }
            let v = call_with(c, "CreateVpcEndpoint", &p, &extra)?;
            out.done(
                &v,
                &format!(
                    "{}\t{}\t{}",
                    v["EndpointId"].as_str().unwrap_or(""),
                    v["ConnectionStatus"].as_str().unwrap_or(""),
                    v["EndpointDomain"].as_str().unwrap_or("")
                ),
            );
        }
        EndpointCmd::List => {
            let (raw, items) = all_pages(c, "ListVpcEndpoints", &vec![], "Endpoints")?;
            out.list(
                &raw,
                &items,
                &[
                    ("ENDPOINT", "EndpointId"),
                    ("NAME", "EndpointName"),
                    ("VPC", "VpcId"),
                    ("SERVICE", "ServiceId"),
                    ("STATUS", "EndpointStatus"),
                    ("CONNECTION", "ConnectionStatus"),
                    ("MBPS", "Bandwidth"),
                    ("DOMAIN", "EndpointDomain"),
                ],
            );
        }
        EndpointCmd::Show { endpoint } => {
            let v = c.call(
                "GetVpcEndpointAttribute",
                &[("EndpointId", endpoint.clone())],
            )?;
            out.object(&v);
            if !out.json {
                println!();
                let (raw, items) = all_pages(
                    c,
                    "ListVpcEndpointZones",
                    &vec![("EndpointId", endpoint.clone())],
                    "Zones",
                )?;
                out.list(
                    &raw,
                    &items,
                    &[
                        ("ZONE", "ZoneId"),
                        ("ENI", "EniId"),
                        ("ADDRESS", "EniIp"),
                        ("IPV6", "ZoneIpv6Address"),
                        ("VSWITCH", "VSwitchId"),
                        ("STATE", "ZoneStatus"),
                        ("DOMAIN", "ZoneDomain"),
                    ],
                );
                println!();
                let (raw, items) = all_pages(
                    c,
                    "ListVpcEndpointSecurityGroups",
                    &vec![("EndpointId", endpoint.clone())],
                    "SecurityGroups",
                )?;
                out.list(
                    &raw,
                    &items,
                    &[
                        ("SECURITY GROUP", "SecurityGroupId"),
                        ("STATUS", "SecurityGroupStatus"),
                    ],
                );
            }
        }
        EndpointCmd::Update {
            endpoint,
            name,
            description,
        } => {
            let mut p: P = vec![("EndpointId", endpoint.clone())];
            if let Some(n) = name {
                p.push(("EndpointName", n.clone()));
            }
            if let Some(d) = description {
                p.push(("EndpointDescription", d.clone()));
            }
            let v = c.call("UpdateVpcEndpointAttribute", &p)?;
            out.done(&v, &format!("updated {endpoint}"));
        }
        EndpointCmd::Delete { endpoint } => {
            let v = c.call("DeleteVpcEndpoint", &[("EndpointId", endpoint.clone())])?;
            out.done(&v, &format!("deleted {endpoint}"));
        }
        EndpointCmd::AddZone { endpoint, zone } => {
            let mut p: P = vec![
                ("EndpointId", endpoint.clone()),
                ("ZoneId", zone.zone.clone()),
                ("VSwitchId", zone.vswitch.clone()),
            ];
            if let Some(ip) = &zone.ip {
                p.push(("ip", ip.clone()));
            }
            let v = c.call("AddZoneToVpcEndpoint", &p)?;
            out.done(&v, &format!("{endpoint}: zone {} added", zone.zone));
        }
        EndpointCmd::RemoveZone { endpoint, zone } => {
            let v = c.call(
                "RemoveZoneFromVpcEndpoint",
                &[("EndpointId", endpoint.clone()), ("ZoneId", zone.clone())],
            )?;
            out.done(&v, &format!("{endpoint}: zone {zone} removed"));
        }
        EndpointCmd::AttachSg { endpoint, sg } => {
            let v = c.call(
                "AttachSecurityGroupToVpcEndpoint",
                &[
                    ("EndpointId", endpoint.clone()),
                    ("SecurityGroupId", sg.clone()),
                ],
            )?;
            out.done(&v, &format!("{endpoint}: {sg} attached"));
        }
        EndpointCmd::DetachSg { endpoint, sg } => {
            let v = c.call(
                "DetachSecurityGroupFromVpcEndpoint",
                &[
                    ("EndpointId", endpoint.clone()),
                    ("SecurityGroupId", sg.clone()),
                ],
            )?;
            out.done(&v, &format!("{endpoint}: {sg} detached"));
        }
    }
    Ok(())
}

/// `eplink regions`
pub fn regions(c: &Client, out: Output) -> R {
    let v = c.call("DescribeRegions", &[])?;
    let items = v["Regions"]["Region"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.list(
        &v,
        &items,
        &[
            ("REGION", "RegionId"),
            ("NAME", "LocalName"),
            ("ENDPOINT", "RegionEndpoint"),
        ],
    );
    Ok(())
}

/// `eplink zones`
pub fn zones(c: &Client, out: Output) -> R {
    let v = c.call("DescribeZones", &[])?;
    let items = v["Zones"]["Zone"].as_array().cloned().unwrap_or_default();
    out.list(&v, &items, &[("ZONE", "ZoneId"), ("NAME", "LocalName")]);
    Ok(())
}
