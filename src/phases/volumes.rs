//! The Kubernetes phase's wait for the namespaces' volumes: a namespace is
//! gone once its PersistentVolumeClaims are, but the EBS volume behind a
//! claim's PersistentVolume is deleted afterwards, by the EBS CSI driver in
//! the cluster, and only while the cluster still runs. So the phase ends only
//! when every PersistentVolume the stack's claims bound with reclaimPolicy
//! Delete is gone (the external provisioner removes the PersistentVolume
//! object once the volume's deletion succeeded), within `kubernetes.wait`:
//! a `terraform destroy` that starts earlier can take the driver with it and
//! leave the volumes billing. Each EBS volume is then proven gone with one
//! DescribeVolumes. A volume whose PersistentVolume says Retain
//! stays by design: it is listed as kept, with its size and $/month.

use tokio::time::Instant;

use crate::aws::{Aws, describe};
use crate::cancel::Stop;
use crate::cost::leftovers::{Billable, Priced, price};
use crate::cost::prices::Prices;
use crate::discover::kubernetes::{Volume, volumes};
use crate::k8s::Connection;
use crate::model::inventory::Kind;
use crate::model::report::{Outcome, PhaseReport};
use crate::wait;

/// Waits for the Delete volumes of `namespaces`' claims to go, and lists the Retain ones as kept.
pub async fn await_volumes(
    aws: &Aws,
    api: &Connection,
    namespaces: &[String],
    (deadline, stop): (Instant, &Stop),
    report: &mut PhaseReport,
) {
    let listed = match list(api, namespaces).await {
        Ok(listed) => listed,
        Err(e) => {
            report.fail(format!("listing the namespaces' PersistentVolumes: {e:#}"));
            return;
        }
    };
    let (retained, mut deleting): (Vec<Volume>, Vec<Volume>) = listed.into_iter().partition(Volume::retained);
    if !deleting.is_empty() {
        tracing::info!(
            "kubernetes: waiting for {} PersistentVolume(s) the EBS CSI driver deletes",
            deleting.len()
        );
    }
    let mut prices = Prices::new(aws, aws.region(), false);
    for v in retained {
        let why = retain_detail(aws, &mut prices, &v).await;
        report.record(Kind::PersistentVolume, &v.name, Outcome::Kept, Some(why));
    }
    prices.save();
    let mut rounds = wait::Rounds::new(deadline.saturating_duration_since(Instant::now()), stop);
    let mut gone = Vec::new();
    let mut waited = true;
    while !deleting.is_empty() {
        match rounds.next().await {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                report.fail(format!("{e:#}"));
                waited = false;
                break;
            }
        }
        let now = match list(api, namespaces).await {
            Ok(now) => now,
            Err(e) => {
                report.fail(format!("listing the namespaces' PersistentVolumes: {e:#}"));
                waited = false;
                break;
            }
        };
        let (still, went): (Vec<Volume>, Vec<Volume>) =
            deleting.into_iter().partition(|v| now.iter().any(|n| n.uid == v.uid));
        for v in &went {
            tracing::info!(
                "kubernetes: PersistentVolume {} is gone; its EBS volume is checked next",
                v.name
            );
        }
        (deleting, gone) = (still, [gone, went].concat());
    }
    prove_volumes_gone(aws, gone, report).await;
    if !waited {
        return;
    }
    for v in deleting {
        let why = format!(
            "PersistentVolume {} (EBS volume {}) of claim {}/{} is still there: the EBS CSI driver has not deleted it; \
             terraform destroy would take the driver with the cluster and leave the volume billing",
            v.name,
            v.volume_id.as_deref().unwrap_or("unknown"),
            v.namespace,
            v.claim
        );
        report.record(Kind::PersistentVolume, &v.name, Outcome::Failed, Some(why.clone()));
        report.fail(why);
    }
}

/// The PersistentVolumes seen gone, each recorded deleted once its EBS volume
/// is gone too (one filtered DescribeVolumes): a PersistentVolume removed by
/// hand, or by a driver that failed, can leave its volume billing.
async fn prove_volumes_gone(aws: &Aws, gone: Vec<Volume>, report: &mut PhaseReport) {
    let ids: Vec<String> = gone.iter().filter_map(|v| v.volume_id.clone()).collect();
    let still: Result<Vec<String>, String> = if ids.is_empty() {
        Ok(Vec::new())
    } else {
        aws.ec2()
            .describe_volumes()
            .filters(
                aws_sdk_ec2::types::Filter::builder()
                    .name("volume-id")
                    .set_values(Some(ids))
                    .build(),
            )
            .send()
            .await
            .map(|out| {
                out.volumes()
                    .iter()
                    .filter_map(|v| v.volume_id().map(str::to_owned))
                    .collect()
            })
            .map_err(|e| describe(&e))
    };
    for v in gone {
        let id = v.volume_id.clone();
        let left = match (&still, &id) {
            (_, None) => None,
            (Ok(still), Some(id)) => still
                .contains(id)
                .then(|| format!("its EBS volume {id} is still there")),
            (Err(e), Some(id)) => Some(format!("whether its EBS volume {id} is gone cannot be read ({e})")),
        };
        match left {
            None => report.record(Kind::PersistentVolume, &v.name, Outcome::Deleted, id),
            Some(left) => {
                let why = format!("PersistentVolume {} went, but {left}; it may still bill", v.name);
                report.record(Kind::PersistentVolume, &v.name, Outcome::Failed, Some(why.clone()));
                report.fail(why);
            }
        }
    }
}

async fn list(api: &Connection, namespaces: &[String]) -> anyhow::Result<Vec<Volume>> {
    volumes(&api.client().await?, namespaces).await
}

/// What a retained volume is and costs: its EBS volume's size, type and $/month.
async fn retain_detail(aws: &Aws, prices: &mut Prices, v: &Volume) -> String {
    let head = format!("reclaimPolicy Retain (claim {}/{})", v.namespace, v.claim);
    let Some(id) = &v.volume_id else {
        return format!("{head}: not an EBS volume");
    };
    let described = aws.ec2().describe_volumes().volume_ids(id).send().await;
    let volume = match &described {
        Ok(out) => out.volumes().first(),
        Err(e) => {
            return format!(
                "{head}: EBS volume {id} stays; its size cannot be read ({})",
                describe(e)
            );
        }
    };
    let Some(volume) = volume else {
        return format!("{head}: EBS volume {id} is gone");
    };
    let (gib, volume_type) = (
        volume.size().unwrap_or(0),
        volume.volume_type().map_or("gp2", |t| t.as_str()).to_owned(),
    );
    let bill = Billable::Volume {
        volume_type: volume_type.clone(),
        gib,
    };
    let money = match price(aws, prices, &bill).await {
        Priced::Usd(usd) => crate::text::per_month(usd),
        Priced::Unpriced(why) => format!("not priced: {why}"),
    };
    format!("{head}: EBS volume {id}, {gib} GiB {volume_type}, stays billing {money}")
}
