//! A map from names to values: a vector sorted by name.
//!
//! Owns: lookups by name (tools, grants, metrics) on the request path. A
//! sorted vector costs a binary search per lookup (ten comparisons for a
//! thousand tools), builds once at configure time, and keeps the module
//! smaller than a hash map would (no hashing code, no random seed).

/// Values by name, sorted by name; each name at most once.
#[derive(Debug, Clone)]
pub struct Names<T>(Vec<(String, T)>);

impl<T> Default for Names<T> {
    fn default() -> Self {
        Names(Vec::new())
    }
}

impl<T> Names<T> {
    fn find(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&T> {
        self.find(name)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, name: &str) -> Option<&mut T> {
        let i = self.find(name).ok()?;
        self.0.get_mut(i).map(|(_, v)| v)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Adds `name`, or replaces its value.
    pub fn insert(&mut self, name: String, value: T) {
        match self.find(&name) {
            Ok(i) => {
                if let Some(slot) = self.0.get_mut(i) {
                    slot.1 = value;
                }
            }
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_lookups() {
        let mut n = Names::default();
        for (i, k) in ["b", "a", "c", "a"].iter().enumerate() {
            n.insert(k.to_string(), i);
        }
        assert_eq!(n.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert_eq!(
            (n.get("a"), n.get("b"), n.get("z")),
            (Some(&3), Some(&0), None)
        );
        *n.get_mut("c").unwrap() = 9;
        assert_eq!(n.get("c"), Some(&9));
        assert!(n.contains_key("b") && !n.contains_key("") && n.len() == 3);
    }
}
