//! Typed access to the flattened RPC parameters (`K`, `K.1`, `K.1.Sub`), with the API's own
//! `MissingParam.<X>` / `IllegalParam.<X>` errors.

use std::collections::BTreeMap;

use super::ApiError;

/// The decoded parameters of one call.
#[derive(Debug, Clone, Default)]
pub struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    /// Wraps decoded parameters.
    #[must_use]
    pub fn new(map: BTreeMap<String, String>) -> Self {
        Self { map }
    }

    /// A parameter; empty values count as absent.
    #[must_use]
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.map
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A required parameter.
    pub fn req(&self, name: &str) -> Result<&str, ApiError> {
        self.opt(name).ok_or_else(|| ApiError::missing(name))
    }

    /// An optional boolean (`true`/`True`/`false`/`False`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(Some(true)),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(Some(false)),
            Some(v) => Err(ApiError::illegal(name, format!("{v:?} is not a boolean"))),
        }
    }

    /// An optional unsigned integer.
    pub fn u32(&self, name: &str) -> Result<Option<u32>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| ApiError::illegal(name, format!("{v:?} is not a valid number")))
            })
            .transpose()
    }

    /// An optional signed 64-bit integer.
    pub fn i64(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::illegal(name, format!("{v:?} is not a valid number")))
            })
            .transpose()
    }

    /// A list of scalars `K.1`, `K.2`, … in index order.
    #[must_use]
    pub fn list(&self, name: &str) -> Vec<String> {
        let prefix = format!("{name}.");
        let mut items: Vec<(u32, String)> = self
            .map
            .iter()
            .filter_map(|(k, v)| {
                let idx = k.strip_prefix(&prefix)?;
                let n: u32 = idx.parse().ok()?;
                Some((n, v.clone()))
            })
            .filter(|(_, v)| !v.is_empty())
            .collect();
        items.sort_by_key(|(n, _)| *n);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// A list of objects `K.1.Sub`, … in index order, each as its own `Params`.
    #[must_use]
    pub fn objects(&self, name: &str) -> Vec<Params> {
        let prefix = format!("{name}.");
        let mut out: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.map {
            let Some(rest) = k.strip_prefix(&prefix) else {
                continue;
            };
            let Some((idx, sub)) = rest.split_once('.') else {
                continue;
            };
            let Ok(n) = idx.parse::<u32>() else { continue };
            out.entry(n).or_default().insert(sub.to_owned(), v.clone());
        }
        out.into_values().map(Params::new).collect()
    }

    /// `MaxResults` within `1..=max` (default 50) and the `NextToken` offset.
    pub fn paging(&self, max: u32) -> Result<(usize, usize), ApiError> {
        let mr = self.u32("MaxResults")?.unwrap_or(50);
        if mr == 0 || mr > max {
            return Err(ApiError::illegal(
                "MaxResults",
                format!("{mr} is outside 1-{max}"),
            ));
        }
        let offset = match self.opt("NextToken") {
            None => 0,
            Some(t) => t
                .strip_prefix("eplink-")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    ApiError::illegal("NextToken", format!("{t:?} is not a token this API issued"))
                })?,
        };
        Ok((mr as usize, offset))
    }
}

/// One page of `items`: (page, next token or "", total).
pub fn page<T>(
    items: Vec<T>,
    (max, offset): (usize, usize),
) -> Result<(Vec<T>, String, usize), ApiError> {
    let total = items.len();
    if offset > total {
        return Err(ApiError::illegal(
            "NextToken",
            "the token is past the end of the list",
        ));
    }
    let page: Vec<T> = items.into_iter().skip(offset).take(max).collect();
    let next = if offset + page.len() < total {
        format!("eplink-{}", offset + page.len())
    } else {
        String::new()
    };
    Ok((page, next, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn lists_and_objects_are_one_based_and_ordered() {
        let x = p(&[
            ("SecurityGroupId.2", "b"),
            ("SecurityGroupId.10", "c"),
            ("SecurityGroupId.1", "a"),
            ("Zone.2.ZoneId", "z2"),
            ("Zone.1.ZoneId", "z1"),
            ("Zone.1.ip", "1.2.3.4"),
        ]);
        assert_eq!(x.list("SecurityGroupId"), vec!["a", "b", "c"]);
        let zs = x.objects("Zone");
        assert_eq!(zs.len(), 2);
        assert_eq!(zs[0].opt("ZoneId"), Some("z1"));
        assert_eq!(zs[0].opt("ip"), Some("1.2.3.4"));
        assert_eq!(zs[1].opt("ZoneId"), Some("z2"));
    }

    #[test]
    fn booleans_are_case_insensitive_and_checked() {
        assert_eq!(p(&[("DryRun", "True")]).bool("DryRun").unwrap(), Some(true));
        assert_eq!(
            p(&[("DryRun", "false")]).bool("DryRun").unwrap(),
            Some(false)
        );
        assert_eq!(
            p(&[("DryRun", "yes")]).bool("DryRun").unwrap_err().code,
            "IllegalParam.DryRun"
        );
    }

    #[test]
    fn paging_validates_and_pages() {
        assert_eq!(
            p(&[("MaxResults", "0")]).paging(50).unwrap_err().code,
            "IllegalParam.MaxResults"
        );
        assert_eq!(
            p(&[("MaxResults", "51")]).paging(50).unwrap_err().code,
            "IllegalParam.MaxResults"
        );
        assert_eq!(
            p(&[("NextToken", "zzz")]).paging(50).unwrap_err().code,
            "IllegalParam.NextToken"
        );
        let (pg, next, total) = page((0..5).collect::<Vec<_>>(), (2, 0)).unwrap();
        assert_eq!((pg, next.as_str(), total), (vec![0, 1], "eplink-2", 5));
        let (pg, next, _) = page((0..5).collect::<Vec<_>>(), (2, 4)).unwrap();
        assert_eq!((pg, next.as_str()), (vec![4], ""));
        assert!(page((0..5).collect::<Vec<_>>(), (2, 6)).is_err());
    }
}
