//! A re-run never widens: a stage that runs again gets what the rules give it now
//! (the same trigger, the tenant's settings today) and never more than its original
//! attempt was sent with. The trigger itself is the original's, copied verbatim.

use super::StageGrants;

/// The grants for a re-run stage: `now` narrowed to what the original attempt had,
/// when that is known (`None`: the stage was never sent in the original, or the
/// original predates recorded grants; the rules alone decide, as for any run of the
/// same trigger).
pub fn rerun_grants(now: StageGrants, original: Option<&StageGrants>) -> StageGrants {
    let Some(original) = original else {
        return now;
    };
    StageGrants {
        network: now.network && original.network,
        secrets: now
            .secrets
            .into_iter()
            .filter(|s| original.secrets.contains(s))
            .collect(),
        push_repository: now
            .push_repository
            .filter(|r| original.push_repository.as_ref() == Some(r)),
        image_repository: now
            .image_repository
            .filter(|r| original.image_repository.as_ref() == Some(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(network: bool, secrets: &[&str], push: Option<&str>) -> StageGrants {
        StageGrants {
            network,
            secrets: secrets.iter().map(|s| s.to_string()).collect(),
            push_repository: push.map(str::to_string),
            image_repository: push.map(str::to_string),
        }
    }

    #[test]
    fn a_rerun_gets_no_more_than_its_original_attempt_had() {
        let original = grants(false, &["NPM_TOKEN"], None);
        let now = grants(true, &["NPM_TOKEN", "DEPLOY_KEY"], Some("reg/acme/shop"));
        assert_eq!(
            rerun_grants(now, Some(&original)),
            grants(false, &["NPM_TOKEN"], None)
        );
    }

    #[test]
    fn a_rerun_gets_no_more_than_the_rules_give_now() {
        let original = grants(true, &["NPM_TOKEN"], Some("reg/acme/shop"));
        let now = grants(false, &[], Some("reg/acme/other"));
        assert_eq!(rerun_grants(now, Some(&original)), grants(false, &[], None));
    }

    #[test]
    fn without_an_original_attempt_the_rules_alone_decide() {
        let now = grants(true, &["NPM_TOKEN"], Some("reg/acme/shop"));
        assert_eq!(rerun_grants(now.clone(), None), now);
    }
}
