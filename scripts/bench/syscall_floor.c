/* Lower bound for scanning a grade tree on this machine: lists every folder
 * below OUTPUT and opens, reads and closes each *.json file, parsing nothing,
 * on one thread. Prints the elapsed milliseconds.
 *
 * Build and run: cc -O2 -o /tmp/syscall_floor scripts/bench/syscall_floor.c
 *                /tmp/syscall_floor OUTPUT
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long files;
static char buffer[65536];

static void scan(int dir_fd) {
    DIR *dir = fdopendir(dir_fd);
    if (!dir) return;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        const char *name = entry->d_name;
        if (name[0] == '.' && (!name[1] || (name[1] == '.' && !name[2]))) continue;
        if (entry->d_type == DT_DIR) {
            int child = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (child >= 0) scan(child);
        } else if (entry->d_type == DT_REG) {
            size_t len = strlen(name);
            if (len < 5 || strcmp(name + len - 5, ".json") != 0) continue;
            int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC);
            if (fd < 0) continue;
            while (read(fd, buffer, sizeof buffer) > 0) {
            }
            close(fd);
            files++;
        }
    }
    closedir(dir);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTPUT\n", argv[0]);
        return 2;
    }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        perror(argv[1]);
        return 1;
    }
    scan(root);
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ms = (end.tv_sec - start.tv_sec) * 1e3 + (end.tv_nsec - start.tv_nsec) / 1e6;
    fprintf(stderr, "files=%ld\n", files);
    printf("%.1f\n", ms);
    return 0;
}
