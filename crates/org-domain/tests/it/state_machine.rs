//! State-machine property test: random sequences of invite / accept / change-role / remove /
//! transfer / create-role / delete-role by random actors against a simple reference model.
//! Each decision sees only what its use case loads (memberships and roles are separate
//! aggregates). After every step exactly one owner exists, the owner is an active member and
//! the one the org row names, the kept member count is right, the membership table equals
//! the model's, and a step is rejected exactly when the model says it is illegal.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use org_domain::{
    Access, Actor, Capability, CapabilitySet, CustomRole, DomainError, Email, Headcount, Invitation, InvitationId,
    Membership, MembershipId, NewInvitation, NewOrganization, NewRole, OrgId, OrgName, OrgStatus, Organization, Role,
    RoleBook, RoleId, RoleName, RoleRef, RoleSlug, Slug, TierId, TokenHash, User, UserId, UserVia,
};
use proptest::prelude::*;
use uuid::Uuid;

const USERS: usize = 6;
const CAP: usize = 5;
const POOL: [Capability; 4] = [
    Capability::OrgMembersManage,
    Capability::OrgRolesManage,
    Capability::AuditLogsView,
    Capability::WebhooksManage,
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum R {
    Owner,
    Admin,
    Member,
    Custom(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Invite { actor: usize, target: usize, role: R },
    Accept { target: usize },
    ChangeRole { actor: usize, target: usize, role: R },
    Remove { actor: usize, target: usize },
    Transfer { actor: usize, target: usize },
    CreateRole { actor: usize, k: usize, caps: Vec<bool> },
    DeleteRole { actor: usize, k: usize },
}

fn role_strategy() -> impl Strategy<Value = R> {
    prop_oneof![
        Just(R::Owner),
        Just(R::Admin),
        Just(R::Member),
        (0..3_usize).prop_map(R::Custom)
    ]
}

/// Raw user selectors: below `USERS * 4` they pick a current member (so most steps are taken
/// by members), above it any user, member or stranger. Resolved against the model per step.
const SELECTORS: usize = USERS * 5;

fn op_strategy() -> impl Strategy<Value = Op> {
    let u = || 0..SELECTORS;
    prop_oneof![
        3 => (u(), u(), role_strategy()).prop_map(|(actor, target, role)| Op::Invite { actor, target, role }),
        3 => u().prop_map(|target| Op::Accept { target }),
        3 => (u(), u(), role_strategy()).prop_map(|(actor, target, role)| Op::ChangeRole { actor, target, role }),
        2 => (u(), u()).prop_map(|(actor, target)| Op::Remove { actor, target }),
        2 => (u(), u()).prop_map(|(actor, target)| Op::Transfer { actor, target }),
        2 => (u(), 0..3_usize, proptest::collection::vec(any::<bool>(), 4)).prop_map(|(actor, k, caps)| Op::CreateRole { actor, k, caps }),
        1 => (u(), 0..3_usize).prop_map(|(actor, k)| Op::DeleteRole { actor, k }),
    ]
}

/// The reference model: plain maps and the rules of §3.5 written the simple way.
#[derive(Clone, Debug)]
struct Model {
    owner: usize,
    members: BTreeMap<usize, R>,
    roles: BTreeMap<usize, CapabilitySet>,
    pending: BTreeMap<usize, R>,
}

impl Model {
    fn caps_of(&self, r: &R) -> CapabilitySet {
        match r {
            R::Owner => CapabilitySet::all(),
            R::Admin => CapabilitySet::grantable(),
            R::Member => CapabilitySet::EMPTY,
            R::Custom(k) => self.roles.get(k).copied().unwrap_or_default().resolved(),
        }
    }
    fn exists(&self, r: &R) -> bool {
        !matches!(r, R::Custom(k) if !self.roles.contains_key(k))
    }
    fn caps(&self, u: usize) -> Option<CapabilitySet> {
        self.members.get(&u).map(|r| self.caps_of(r))
    }
    fn grant(&self, actor: usize, r: &R) -> bool {
        let caps = self.caps(actor).unwrap_or_default();
        match r {
            R::Member => true,
            R::Admin => matches!(self.members.get(&actor), Some(R::Owner | R::Admin)),
            R::Owner => false,
            R::Custom(_) => self.caps_of(r).is_subset_of(caps),
        }
    }
    fn target_ok(&self, actor: usize, target: usize) -> bool {
        let caps = self.caps(actor).unwrap_or_default();
        match &self.members[&target] {
            R::Owner => false,
            R::Admin => caps.contains(Capability::OrgAdminsManage),
            other => self.caps_of(other).is_subset_of(caps),
        }
    }
    fn has(&self, actor: usize, cap: Capability) -> bool {
        self.caps(actor).is_some_and(|c| c.contains(cap))
    }

    /// Applies `op` if legal; returns whether it was.
    fn step(&mut self, op: &Op) -> bool {
        match op {
            Op::Invite { actor, target, role } => {
                let ok = self.has(*actor, Capability::OrgMembersManage)
                    && *role != R::Owner
                    && self.exists(role)
                    && (*role == R::Member
                        || (self.has(*actor, Capability::OrgRolesManage) && self.grant(*actor, role)))
                    && !self.members.contains_key(target)
                    && !self.pending.contains_key(target)
                    && self.members.len() < CAP;
                if ok {
                    self.pending.insert(*target, role.clone());
                }
                ok
            }
            Op::Accept { target } => {
                let ok =
                    self.pending.contains_key(target) && !self.members.contains_key(target) && self.members.len() < CAP;
                if ok {
                    let role = self.pending.remove(target).unwrap_or(R::Member);
                    self.members.insert(*target, role);
                }
                ok
            }
            Op::ChangeRole { actor, target, role } => {
                if !self.has(*actor, Capability::OrgRolesManage)
                    || !self.members.contains_key(target)
                    || actor == target
                {
                    return false;
                }
                if *role == R::Owner {
                    return self.step(&Op::Transfer {
                        actor: *actor,
                        target: *target,
                    });
                }
                let ok = self.exists(role) && self.target_ok(*actor, *target) && self.grant(*actor, role);
                if ok {
                    self.members.insert(*target, role.clone());
                }
                ok
            }
            Op::Remove { actor, target } => {
                let ok = self.has(*actor, Capability::OrgMembersManage)
                    && self.members.contains_key(target)
                    && actor != target
                    && self.target_ok(*actor, *target);
                if ok {
                    self.members.remove(target);
                }
                ok
            }
            Op::Transfer { actor, target } => {
                let ok = self.has(*actor, Capability::OrgOwnershipTransfer)
                    && self.members.contains_key(target)
                    && *target != self.owner;
                if ok {
                    self.members.insert(self.owner, R::Admin);
                    self.members.insert(*target, R::Owner);
                    self.owner = *target;
                }
                ok
            }
            Op::CreateRole { actor, k, caps } => {
                let set = perms(caps);
                let ok = self.has(*actor, Capability::OrgRolesManage)
                    && set.resolved().is_subset_of(self.caps(*actor).unwrap_or_default())
                    && !self.roles.contains_key(k);
                if ok {
                    self.roles.insert(*k, set);
                }
                ok
            }
            Op::DeleteRole { actor, k } => {
                let role = R::Custom(*k);
                let ok = self.has(*actor, Capability::OrgRolesManage)
                    && self.roles.contains_key(k)
                    && self.caps_of(&role).is_subset_of(self.caps(*actor).unwrap_or_default())
                    && !self.members.values().any(|r| *r == role)
                    && !self.pending.values().any(|r| *r == role);
                if ok {
                    self.roles.remove(k);
                }
                ok
            }
        }
    }
}

fn perms(bits: &[bool]) -> CapabilitySet {
    POOL.iter().zip(bits).filter(|(_, on)| **on).map(|(c, _)| *c).collect()
}

fn uid(i: usize) -> Uuid {
    Uuid::from_u128(0x1000 + i as u128)
}

fn at(step: usize) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + step as i64, 0).single().unwrap()
}

fn slug_of(k: usize) -> RoleSlug {
    RoleSlug::parse(&format!("custom-{k}")).unwrap()
}

fn to_role(r: &R) -> Role {
    match r {
        R::Owner => Role::Owner,
        R::Admin => Role::Admin,
        R::Member => Role::Member,
        R::Custom(k) => Role::Custom(slug_of(*k)),
    }
}

/// The system under test: the aggregates as a store keeps them, each decision given only
/// what the use case would load for it (the actor's and the target's memberships, the roles
/// they name, the org row), and the member counts maintained from the membership writes the
/// way a store maintains them.
struct Sut {
    org: Organization,
    members: BTreeMap<UserId, Membership>,
    roles: Vec<CustomRole>,
    users: Vec<User>,
    pending: BTreeMap<usize, Invitation>,
    next: u128,
}

impl Sut {
    fn new() -> Self {
        let users: Vec<User> = (0..USERS)
            .map(|i| {
                User::create(
                    UserId::from_uuid(uid(i)),
                    Email::parse(&format!("u{i}@x.test")).unwrap(),
                    None,
                    false,
                    UserVia::Cli,
                    at(0),
                )
                .0
            })
            .collect();
        let (org, owner, _) = Organization::create(
            NewOrganization {
                id: OrgId::from_uuid(Uuid::from_u128(1)),
                slug: Slug::parse("acme").unwrap(),
                name: OrgName::parse("Acme").unwrap(),
                owner: users[0].id(),
                owner_membership: MembershipId::from_uuid(Uuid::from_u128(2)),
                status: OrgStatus::Active,
                tier_id: TierId::new("tier_pro"),
            },
            at(0),
        );
        Self {
            org,
            members: BTreeMap::from([(owner.user_id(), owner)]),
            roles: Vec::new(),
            users,
            pending: BTreeMap::new(),
            next: 100,
        }
    }

    fn fresh(&mut self) -> Uuid {
        self.next += 1;
        Uuid::from_u128(self.next)
    }

    fn user(&self, i: usize) -> UserId {
        self.users[i].id()
    }

    fn custom(&self, role: &Role) -> Option<&CustomRole> {
        match role {
            Role::Custom(slug) => self.roles.iter().find(|r| r.slug() == slug),
            _ => None,
        }
    }

    /// Only the named custom roles, as the use cases load them.
    fn book(&self, named: &[&Role]) -> RoleBook {
        RoleBook::new(named.iter().filter_map(|r| self.custom(r)).cloned().collect())
    }

    fn access(&self, i: usize) -> Result<Access, DomainError> {
        let actor = Actor {
            user_id: self.user(i),
            is_platform_owner: false,
        };
        let own = self.members.get(&actor.user_id);
        let role = own.and_then(|m| self.custom(m.role()));
        Access::resolve(&self.org, actor, own, role)
    }

    /// What a store does with the org's kept facts at commit: counts follow the memberships.
    fn store(&mut self) {
        let mut state = self.org.state().clone();
        state.headcount = Headcount {
            active: self.members.values().filter(|m| m.is_active()).count() as u32,
            total: self.members.len() as u32,
        };
        self.org = Organization::restore(state).unwrap();
    }

    fn step(&mut self, op: &Op, now: DateTime<Utc>) -> Result<(), DomainError> {
        let result = self.decide(op, now);
        self.store();
        result
    }

    fn decide(&mut self, op: &Op, now: DateTime<Utc>) -> Result<(), DomainError> {
        match op {
            Op::Invite { actor, target, role } => {
                let access = self.access(*actor)?;
                let role = to_role(role);
                let new = NewInvitation {
                    id: InvitationId::from_uuid(self.fresh()),
                    org_id: self.org.id(),
                    email: self.users[*target].email().clone(),
                    role: role.clone(),
                    invited_by: self.user(*actor),
                    token_hash: TokenHash([0; 32]),
                    ttl_days: 7,
                };
                let existing = self.members.get(&self.user(*target));
                let mut pending = self.pending.get(target).cloned();
                let book = self.book(&[&role]);
                let (inv, _) = access.invite(&self.org, new, existing, pending.as_mut(), &book, CAP as u32, now)?;
                self.pending.insert(*target, inv);
                Ok(())
            }
            Op::Accept { target } => {
                let mut inv = self.pending.get(target).cloned().ok_or(DomainError::NotFound)?;
                let id = MembershipId::from_uuid(self.fresh());
                let user = self.users[*target].clone();
                let book = self.book(&[&inv.record().role]);
                let existing = self.members.get(&user.id());
                let (membership, _) = self
                    .org
                    .accept_invitation(&mut inv, &user, existing, id, &book, CAP as u32, now)?;
                self.members.insert(membership.user_id(), membership);
                self.pending.remove(target);
                Ok(())
            }
            Op::ChangeRole { actor, target, role } => {
                let access = self.access(*actor)?;
                let role = to_role(role);
                let mut member = self.members.get(&self.user(*target)).cloned();
                let mut owner = (role == Role::Owner)
                    .then(|| self.members.get(&self.org.owner()).cloned())
                    .flatten();
                let target_role = member.as_ref().map(|m| m.role().clone()).unwrap_or(Role::Member);
                let book = self.book(&[&target_role, &role]);
                let mut org = self.org.clone();
                access.change_role(&mut org, member.as_mut(), owner.as_mut(), role, &book, now)?;
                self.org = org;
                for m in [member, owner].into_iter().flatten() {
                    self.members.insert(m.user_id(), m);
                }
                Ok(())
            }
            Op::Remove { actor, target } => {
                let access = self.access(*actor)?;
                let member = self.members.get(&self.user(*target)).cloned();
                let target_role = member.as_ref().map(|m| m.role().clone()).unwrap_or(Role::Member);
                access.remove_member(member.as_ref(), &self.book(&[&target_role]))?;
                self.members.remove(&self.user(*target));
                Ok(())
            }
            Op::Transfer { actor, target } => {
                let access = self.access(*actor)?;
                let mut member = self.members.get(&self.user(*target)).cloned();
                let mut owner = self.members.get(&self.org.owner()).cloned().unwrap();
                let mut org = self.org.clone();
                access.transfer_ownership(&mut org, member.as_mut(), &mut owner, now)?;
                self.org = org;
                for m in [member, Some(owner)].into_iter().flatten() {
                    self.members.insert(m.user_id(), m);
                }
                Ok(())
            }
            Op::CreateRole { actor, k, caps } => {
                let access = self.access(*actor)?;
                let new = NewRole {
                    id: RoleId::from_uuid(uid(100 + k)),
                    slug: slug_of(*k),
                    name: RoleName::parse(&format!("Custom {k}")).unwrap(),
                    description: None,
                    permissions: perms(caps),
                };
                let (role, _) = access.create_role(&RoleBook::new(self.roles.clone()), new, now)?;
                self.roles.push(role);
                Ok(())
            }
            Op::DeleteRole { actor, k } => {
                let access = self.access(*actor)?;
                let held = Role::Custom(slug_of(*k));
                let holders = self.members.values().filter(|m| *m.role() == held).count() as u64;
                let pending = self.pending.values().filter(|i| i.record().role == held).count() as u64;
                let role = RoleRef::Custom(RoleId::from_uuid(uid(100 + k)));
                let (gone, _) = access.delete_role(&RoleBook::new(self.roles.clone()), &role, holders, pending)?;
                self.roles.retain(|r| r.id() != gone.id());
                Ok(())
            }
        }
    }

    fn check_against(&self, model: &Model) -> Result<(), TestCaseError> {
        let owners: Vec<&Membership> = self.members.values().filter(|m| *m.role() == Role::Owner).collect();
        prop_assert_eq!(owners.len(), 1, "exactly one owner");
        prop_assert_eq!(owners[0].user_id(), self.org.owner(), "the org row names the owner");
        prop_assert!(owners[0].is_active(), "the owner is an active member");
        prop_assert_eq!(self.org.owner(), self.user(model.owner));
        prop_assert_eq!(
            self.org.headcount().active as usize,
            model.members.len(),
            "kept active count"
        );
        let actual: BTreeMap<UserId, Role> = self.members.iter().map(|(u, m)| (*u, m.role().clone())).collect();
        let expected: BTreeMap<UserId, Role> = model.members.iter().map(|(u, r)| (self.user(*u), to_role(r))).collect();
        prop_assert_eq!(actual, expected);
        for m in self.members.values() {
            prop_assert!(
                Membership::restore(m.record().clone()).is_ok(),
                "every membership restores"
            );
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn the_aggregate_agrees_with_the_model_and_always_has_one_owner(ops in proptest::collection::vec(op_strategy(), 1..80)) {
        let mut sut = Sut::new();
        let mut model = Model { owner: 0, members: BTreeMap::from([(0, R::Owner)]), roles: BTreeMap::new(), pending: BTreeMap::new() };
        for (i, raw) in ops.iter().enumerate() {
            let op = &resolve(raw, &model);
            let legal = model.step(op);
            let result = sut.step(op, at(i + 1));
            prop_assert_eq!(result.is_ok(), legal, "step {} {:?} gave {:?}", i, op, result);
            if let (Err(e), false) = (&result, model.members.contains_key(&actor_of(op)))
                && !matches!(op, Op::Accept { .. }) {
                    prop_assert_eq!(e, &DomainError::NotFound, "a stranger learns nothing");
                }
            sut.check_against(&model)?;
        }
    }
}

fn pick(sel: usize, model: &Model) -> usize {
    let members: Vec<usize> = model.members.keys().copied().collect();
    if sel < USERS * 4 {
        members[sel % members.len()]
    } else {
        sel % USERS
    }
}

/// Replaces selectors by concrete users; invite and accept targets are any user.
fn resolve(op: &Op, m: &Model) -> Op {
    match op.clone() {
        Op::Invite { actor, target, role } => Op::Invite {
            actor: pick(actor, m),
            target: target % USERS,
            role,
        },
        Op::Accept { target } => Op::Accept { target: target % USERS },
        Op::ChangeRole { actor, target, role } => Op::ChangeRole {
            actor: pick(actor, m),
            target: pick(target, m),
            role,
        },
        Op::Remove { actor, target } => Op::Remove {
            actor: pick(actor, m),
            target: pick(target, m),
        },
        Op::Transfer { actor, target } => Op::Transfer {
            actor: pick(actor, m),
            target: pick(target, m),
        },
        Op::CreateRole { actor, k, caps } => Op::CreateRole {
            actor: pick(actor, m),
            k,
            caps,
        },
        Op::DeleteRole { actor, k } => Op::DeleteRole {
            actor: pick(actor, m),
            k,
        },
    }
}

fn actor_of(op: &Op) -> usize {
    match op {
        Op::Invite { actor, .. }
        | Op::ChangeRole { actor, .. }
        | Op::Remove { actor, .. }
        | Op::Transfer { actor, .. }
        | Op::CreateRole { actor, .. }
        | Op::DeleteRole { actor, .. } => *actor,
        Op::Accept { target } => *target,
    }
}
