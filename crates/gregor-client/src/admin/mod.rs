//! The admin client: topics, configs, groups, offsets, ACLs and SCRAM credentials.
