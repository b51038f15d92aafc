//! Where a region's prices are: the usage-type prefixes its Price List SKUs
//! carry, and the Price List API's own region. No I/O.

/// Usage-type prefixes of a region: us-east-1 has none on the older services
/// (EC2, ELB, S3, ECR) and `USE1-` on the newer ones (EKS, SageMaker, CloudWatch).
pub(super) struct Prefix {
    pub(super) old_services: &'static str,
    pub(super) new_services: &'static str,
}

/// The prefixes of `region`, or why they are not known (a region missing from
/// the table: its usage types cannot be asked for, so its prices are not guessed).
pub(super) fn usage_prefix(region: &str) -> Result<Prefix, String> {
    let code = match region {
        "us-east-1" => "USE1-",
        "us-east-2" => "USE2-",
        "us-west-1" => "USW1-",
        "us-west-2" => "USW2-",
        "eu-west-1" => "EU-",
        "eu-central-1" => "EUC1-",
        "eu-west-2" => "EUW2-",
        "ap-south-1" => "APS3-",
        "ap-northeast-1" => "APN1-",
        "ap-southeast-1" => "APS1-",
        "ap-southeast-2" => "APS2-",
        other => return Err(format!("no usage-type prefix known for region {other}")),
    };
    Ok(if region == "us-east-1" {
        Prefix {
            old_services: "",
            new_services: code,
        }
    } else {
        Prefix {
            old_services: code,
            new_services: code,
        }
    })
}

/// The Price List API's own region for a stack in `region`: it runs only in
/// us-east-1, eu-central-1 and ap-south-1.
pub fn api_region(region: &str) -> &'static str {
    if region.starts_with("eu-") || region.starts_with("me-") || region.starts_with("af-") {
        "eu-central-1"
    } else if region.starts_with("ap-") {
        "ap-south-1"
    } else {
        "us-east-1"
    }
}
