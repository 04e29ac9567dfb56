/* SPDX-License-Identifier: MIT */
/* TEMPORARY: link stubs for the schema-3 store API until store.c implements it. */
#include <errno.h>
#include "store.h"

int store_vm_create(struct store *s, const struct vm *vm, const struct vm_meta *meta, const char *actor, enum store_conflict *ret_conflict) {
        return -ENOSYS;
}
int store_vm_update(struct store *s, const struct vm *vm, const struct vm_meta *meta, int64_t if_version, const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome, int64_t *ret_version) {
        return -ENOSYS;
}
int store_vm_remove(struct store *s, const char *id, int64_t if_version, const char *actor, struct vm *ret_removed) {
        return -ENOSYS;
}
int store_vm_get_meta(struct store *s, const char *id, struct vm_meta *ret) {
        return -ENOSYS;
}
int store_vm_find_by_slug(struct store *s, const char *slug, char ret_id[static VM_ID_MAX + 1]) {
        return -ENOSYS;
}
int store_vm_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match, size_t n_match, struct vm **ret_vms, struct vm_meta **ret_meta, size_t *ret_n, bool *ret_more) {
        return -ENOSYS;
}
int store_vm_expired(struct store *s, int64_t now, size_t max, char ***ret_ids, size_t *ret_n) {
        return -ENOSYS;
}
int store_hostnames_list(struct store *s, struct store_hostname **ret, size_t *ret_n) {
        return -ENOSYS;
}
int store_hostname_owner(struct store *s, const char *name, struct store_owner *ret) {
        return -ENOSYS;
}
int store_port_owner(struct store *s, uint16_t port, enum proto proto, struct store_owner *ret) {
        return -ENOSYS;
}
int store_route_put(struct store *s, const struct route_def *r, enum store_write_mode mode, int64_t if_version, const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome, struct route_def *ret_stored) {
        return -ENOSYS;
}
int store_route_get(struct store *s, const char *id, struct route_def *ret) {
        return -ENOSYS;
}
int store_route_remove(struct store *s, const char *id, int64_t if_version, const char *actor, struct route_def *ret_removed) {
        return -ENOSYS;
}
int store_route_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match, size_t n_match, int origin, struct route_def **ret, size_t *ret_n, bool *ret_more) {
        return -ENOSYS;
}
int store_route_list_all(struct store *s, struct route_def **ret, size_t *ret_n) {
        return -ENOSYS;
}
int store_forward_put(struct store *s, const struct forward_def *f, enum store_write_mode mode, int64_t if_version, const char *actor, enum store_conflict *ret_conflict, enum store_outcome *ret_outcome, struct forward_def *ret_stored) {
        return -ENOSYS;
}
int store_forward_get(struct store *s, const char *id, struct forward_def *ret) {
        return -ENOSYS;
}
int store_forward_remove(struct store *s, const char *id, int64_t if_version, const char *actor, struct forward_def *ret_removed) {
        return -ENOSYS;
}
int store_forward_list_page(struct store *s, const char *after, size_t limit, const struct label_match *match, size_t n_match, int origin, struct forward_def **ret, size_t *ret_n, bool *ret_more) {
        return -ENOSYS;
}
int store_forward_list_all(struct store *s, struct forward_def **ret, size_t *ret_n) {
        return -ENOSYS;
}
int store_forward_ports_mark(struct store *s, struct portmap *m) {
        return -ENOSYS;
}
int store_snapshot_load_all(struct store *s, struct vm **ret_vms, size_t *ret_n_vms, struct forward_def **ret_fwds, size_t *ret_n_fwds, int64_t *ret_change_seq) {
        return -ENOSYS;
}
int store_changes_read(struct store *s, int64_t after, size_t max, struct store_change **ret, size_t *ret_n) {
        return -ENOSYS;
}
int store_counts(struct store *s, struct store_counts *ret) {
        return -ENOSYS;
}
int store_token_add(struct store *s, const struct token_rec *t, const char *actor) {
        return -ENOSYS;
}
int store_token_list(struct store *s, struct token_rec **ret, size_t *ret_n) {
        return -ENOSYS;
}
int store_token_get_by_key(struct store *s, const char *key_id, struct token_rec *ret) {
        return -ENOSYS;
}
int store_token_remove(struct store *s, const char *name, const char *actor, struct token_rec *ret_removed) {
        return -ENOSYS;
}
int store_token_touch(struct store *s, const char *name, int64_t when) {
        return -ENOSYS;
}
void audit_recs_free(struct audit_rec *a, size_t n) {
}
int store_audit_list(struct store *s, int64_t before, size_t limit, const char *kind, const char *key, struct audit_rec **ret, size_t *ret_n) {
        return -ENOSYS;
}
