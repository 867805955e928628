/**
 * Lathe's wire types: the Tinker-compatible JSON protocol of {@code /api/v1} and the admin API of
 * {@code /admin/v1}, as Java records. Field names, defaults and optional fields follow the official
 * {@code tinker} SDK; the fixtures under {@code src/test/resources/tinker} prove it.
 */
package dev.lathe.contracts;
