/* SPDX-License-Identifier: MIT */
/*
 * Replays a fuzz corpus without libFuzzer: calls LLVMFuzzerTestOneInput() on every file of
 * the directory given as the only argument, so `meson test` checks the committed corpus
 * with the ordinary (sanitized) build. Fails if the directory is missing or has no inputs.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int name_compare(const void *a, const void *b) {
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reads path whole into a malloc'd buffer of exactly its size (1 byte for an empty file). */
static int read_file(const char *path, uint8_t **ret, size_t *ret_size) {
        FILE *f = fopen(path, "rb");
        if (!f)
                return -1;
        struct stat st;
        if (fstat(fileno(f), &st) < 0 || st.st_size < 0) {
                fclose(f);
                return -1;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *buf = malloc(size ? size : 1);
        if (!buf || fread(buf, 1, size, f) != size) {
                free(buf);
                fclose(f);
                return -1;
        }
        fclose(f);
        *ret = buf;
        *ret_size = size;
        return 0;
}

int main(int argc, char **argv) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
                return 2;
        }
        const char *dir = argv[1];
        DIR *d = opendir(dir);
        if (!d) {
                perror(dir);
                return 1;
        }
        char **names = NULL;
        size_t n = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
                if (e->d_name[0] == '.')
                        continue;
                char **nn = realloc(names, (n + 1) * sizeof *nn);
                if (!nn || !(nn[n] = strdup(e->d_name))) {
                        fprintf(stderr, "out of memory\n");
                        return 1;
                }
                names = nn;
                n++;
        }
        closedir(d);
        /* Sorted, so a failure always shows up at the same input. */
        if (n)
                qsort(names, n, sizeof *names, name_compare);

        size_t ran = 0;
        int failed = 0;
        for (size_t i = 0; i < n; i++) {
                char path[4096];
                snprintf(path, sizeof path, "%s/%s", dir, names[i]);
                struct stat st;
                if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
                        uint8_t *buf;
                        size_t size;
                        if (read_file(path, &buf, &size) < 0) {
                                fprintf(stderr, "%s: cannot read\n", path);
                                failed = 1;
                        } else {
                                LLVMFuzzerTestOneInput(buf, size);
                                free(buf);
                                ran++;
                        }
                }
                free(names[i]);
        }
        free(names);
        printf("%s: ran %zu inputs\n", dir, ran);
        if (ran == 0) {
                fprintf(stderr, "%s: no inputs\n", dir);
                return 1;
        }
        return failed;
}
