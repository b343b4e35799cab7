/* ops_dnc_mem.c - the DNC memory-access ops: write weights, memory write, temporal link,
 * precedence, read weights, and the batched matrix product used for the reads.
 *
 * Each op is a thin shell: the constructor checks the shapes (batch first, one write head), the
 * forward and backward call the kernels of dnc_mem_kernels.c. Every backward writes each of its
 * operands' gradients in full, so each op declares `overwrites` for all its operands and writes
 * (=) the gradients that alig_ad_grad_claim hands it: a state such as the memory or the write
 * weights, read by several ops, is then never zeroed in a separate pass. An operand passed twice
 * to the same op (e.g. the same node as previous and content read weights) is zeroed once and
 * accumulated, so that the order of the kernel's writes does not matter. */
#include <stdio.h>
#include <string.h>

#include "ad_impl.h"
#include "dnc_mem_kernels.h"

/* The `set` bits of a backward: bit j when operand j has a gradient that this op writes first. */
static unsigned claim_all(alig_ad_graph *G, alig_ad_node *n)
{
    unsigned set = 0;
    for (int j = 0; j < n->n_in; j++) {
        alig_ad_node *a = n->in[j];
        if (!a->grad || !alig_ad_grad_claim(G, a)) continue;
        int dup = 0;
        for (int k = 0; k < n->n_in; k++)
            if (k != j && n->in[k] == a) dup = 1;
        if (dup)
            memset(a->grad, 0, a->size * sizeof *a->grad);
        else
            set |= 1u << j;
    }
    return set;
}

/* (B,d1[,d2]) with the given dims: 1 if the node has exactly this shape */
static int has_shape(const alig_ad_node *x, int ndim, int d0, int d1, int d2)
{
    if (x->ndim != ndim || x->dims[0] != d0 || x->dims[1] != d1) return 0;
    return ndim < 3 || x->dims[2] == d2;
}

static alig_ad_node *shape_fail(alig_ad_graph *G, const char *op, const char *what, const alig_ad_node *x,
                                const char *want)
{
    char sx[64];
    return alig_ad_fail(G, ALIG_EBADLEN, op, "%s must be %s, got %s", what, want, alig_ad_shape_str(x, sx, sizeof sx));
}

/* ---------------------------------------------------------------- write weights */

alig_ad_node *alig_ad_dnc_write_weights(alig_ad_graph *G, alig_ad_node *alloc, alig_ad_node *content,
                                        alig_ad_node *alloc_gate, alig_ad_node *write_gate)
{
    static const char op[] = "dnc_write_weights";
    alig_ad_node *ins[4] = { alloc, content, alloc_gate, write_gate };
    char want[64];
    if (!alig_ad_check_args(G, op, 4, ins)) return NULL;
    if (alloc->ndim != 2) return shape_fail(G, op, "alloc", alloc, "(B,N)");
    const int B = alloc->dims[0], N = alloc->dims[1];
    snprintf(want, sizeof want, "(%d,%d) like alloc", B, N);
    if (!has_shape(content, 2, B, N, 1)) return shape_fail(G, op, "content", content, want);
    snprintf(want, sizeof want, "(%d,1)", B);
    if (!has_shape(alloc_gate, 2, B, 1, 1)) return shape_fail(G, op, "alloc_gate", alloc_gate, want);
    if (!has_shape(write_gate, 2, B, 1, 1)) return shape_fail(G, op, "write_gate", write_gate, want);
    return alig_ad_new_node(G, ALIG_OP_DNC_WRITE_WEIGHTS, 2, alloc->dims, 4, ins);
}

static alig_status ww_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_dnc_write_weights_forward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->in[2]->value,
                                   n->in[3]->value, n->value);
    return ALIG_SUCCESS;
}

static void ww_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    alig_dnc_write_weights_backward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->in[2]->value,
                                    n->in[3]->value, n->grad, n->in[0]->grad, n->in[1]->grad, n->in[2]->grad,
                                    n->in[3]->grad, set);
}

const alig_ad_opdef alig_ad_def_dnc_write_weights = { "dnc_write_weights", ww_forward, ww_backward, 0xFu, 0 };

/* ---------------------------------------------------------------- memory write */

alig_ad_node *alig_ad_dnc_memory(alig_ad_graph *G, alig_ad_node *mem_prev, alig_ad_node *ww, alig_ad_node *erase,
                                 alig_ad_node *add)
{
    static const char op[] = "dnc_memory";
    alig_ad_node *ins[4] = { mem_prev, ww, erase, add };
    char want[64];
    if (!alig_ad_check_args(G, op, 4, ins)) return NULL;
    if (mem_prev->ndim != 3) return shape_fail(G, op, "mem_prev", mem_prev, "(B,N,W)");
    const int B = mem_prev->dims[0], N = mem_prev->dims[1], W = mem_prev->dims[2];
    snprintf(want, sizeof want, "(%d,%d) (B,N of mem_prev)", B, N);
    if (!has_shape(ww, 2, B, N, 1)) return shape_fail(G, op, "ww", ww, want);
    snprintf(want, sizeof want, "(%d,%d) (B,W of mem_prev)", B, W);
    if (!has_shape(erase, 2, B, W, 1)) return shape_fail(G, op, "erase", erase, want);
    if (!has_shape(add, 2, B, W, 1)) return shape_fail(G, op, "add", add, want);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_MEMORY, 3, mem_prev->dims, 4, ins);
    if (n) n->work_bytes = (size_t)B * 2 * (size_t)W * sizeof(double);     /* backward column sums */
    return n;
}

static alig_status mem_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_dnc_memory_forward(n->dims[0], n->dims[1], n->dims[2], n->in[0]->value, n->in[1]->value, n->in[2]->value,
                            n->in[3]->value, n->value);
    return ALIG_SUCCESS;
}

static void mem_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    alig_dnc_memory_backward(n->dims[0], n->dims[1], n->dims[2], n->in[0]->value, n->in[1]->value,
                             n->in[2]->value, n->in[3]->value, n->grad, n->in[0]->grad, n->in[1]->grad,
                             n->in[2]->grad, n->in[3]->grad, set, n->work);
}

const alig_ad_opdef alig_ad_def_dnc_memory = { "dnc_memory", mem_forward, mem_backward, 0xFu, 0 };

/* ---------------------------------------------------------------- temporal link */

alig_ad_node *alig_ad_dnc_link(alig_ad_graph *G, alig_ad_node *link_prev, alig_ad_node *ww, alig_ad_node *prec_prev)
{
    static const char op[] = "dnc_link";
    alig_ad_node *ins[3] = { link_prev, ww, prec_prev };
    char want[64];
    if (!alig_ad_check_args(G, op, 3, ins)) return NULL;
    if (link_prev->ndim != 3 || link_prev->dims[1] != link_prev->dims[2])
        return shape_fail(G, op, "link_prev", link_prev, "(B,N,N)");
    const int B = link_prev->dims[0], N = link_prev->dims[1];
    snprintf(want, sizeof want, "(%d,%d) (B,N of link_prev)", B, N);
    if (!has_shape(ww, 2, B, N, 1)) return shape_fail(G, op, "ww", ww, want);
    if (!has_shape(prec_prev, 2, B, N, 1)) return shape_fail(G, op, "prec_prev", prec_prev, want);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_LINK, 3, link_prev->dims, 3, ins);
    if (n) n->work_bytes = (size_t)B * 2 * (size_t)N * sizeof(double);     /* backward sums of dw, dp */
    return n;
}

static alig_status link_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_dnc_link_forward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->in[2]->value, n->value);
    return ALIG_SUCCESS;
}

static void link_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    alig_dnc_link_backward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->in[2]->value, n->grad,
                           n->in[0]->grad, n->in[1]->grad, n->in[2]->grad, set, n->work);
}

const alig_ad_opdef alig_ad_def_dnc_link = { "dnc_link", link_forward, link_backward, 0x7u, 0 };

/* ---------------------------------------------------------------- precedence */

alig_ad_node *alig_ad_dnc_precedence(alig_ad_graph *G, alig_ad_node *prec_prev, alig_ad_node *ww)
{
    static const char op[] = "dnc_precedence";
    alig_ad_node *ins[2] = { prec_prev, ww };
    char want[64];
    if (!alig_ad_check_args(G, op, 2, ins)) return NULL;
    if (prec_prev->ndim != 2) return shape_fail(G, op, "prec_prev", prec_prev, "(B,N)");
    snprintf(want, sizeof want, "(%d,%d) like prec_prev", prec_prev->dims[0], prec_prev->dims[1]);
    if (!has_shape(ww, 2, prec_prev->dims[0], prec_prev->dims[1], 1)) return shape_fail(G, op, "ww", ww, want);
    return alig_ad_new_node(G, ALIG_OP_DNC_PRECEDENCE, 2, prec_prev->dims, 2, ins);
}

static alig_status prec_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_dnc_precedence_forward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->value);
    return ALIG_SUCCESS;
}

static void prec_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    alig_dnc_precedence_backward(n->dims[0], n->dims[1], n->in[0]->value, n->in[1]->value, n->grad,
                                 n->in[0]->grad, n->in[1]->grad, set);
}

const alig_ad_opdef alig_ad_def_dnc_precedence = { "dnc_precedence", prec_forward, prec_backward, 0x3u, 0 };

/* ---------------------------------------------------------------- read weights */

alig_ad_node *alig_ad_dnc_read_weights(alig_ad_graph *G, alig_ad_node *link, alig_ad_node *wr_prev,
                                       alig_ad_node *modes, alig_ad_node *content)
{
    static const char op[] = "dnc_read_weights";
    alig_ad_node *ins[4] = { link, wr_prev, modes, content };
    char want[64];
    if (!alig_ad_check_args(G, op, 4, ins)) return NULL;
    if (link->ndim != 3 || link->dims[1] != link->dims[2]) return shape_fail(G, op, "link", link, "(B,N,N)");
    const int B = link->dims[0], N = link->dims[1];
    if (wr_prev->ndim != 3 || wr_prev->dims[0] != B || wr_prev->dims[2] != N) {
        snprintf(want, sizeof want, "(%d,R,%d) (B,N of link)", B, N);
        return shape_fail(G, op, "wr_prev", wr_prev, want);
    }
    const int R = wr_prev->dims[1];
    snprintf(want, sizeof want, "(%d,%d,3) (B,R of wr_prev)", B, R);
    if (!has_shape(modes, 3, B, R, 3)) return shape_fail(G, op, "modes", modes, want);
    snprintf(want, sizeof want, "(%d,%d,%d) like wr_prev", B, R, N);
    if (!has_shape(content, 3, B, R, N)) return shape_fail(G, op, "content", content, want);
    alig_ad_node *n = alig_ad_new_node(G, ALIG_OP_DNC_READ_WEIGHTS, 3, wr_prev->dims, 4, ins);
    if (n) n->work_bytes = 4 * n->size * sizeof(float);   /* f, bk (B,R,N) for the backward, and its scratch */
    return n;
}

static alig_status read_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    alig_dnc_read_weights_forward(n->dims[0], n->dims[1], n->dims[2], n->in[0]->value, n->in[1]->value,
                                  n->in[2]->value, n->in[3]->value, n->value, n->work);
    return ALIG_SUCCESS;
}

static void read_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    alig_dnc_read_weights_backward(n->dims[0], n->dims[1], n->dims[2], n->in[0]->value, n->in[1]->value,
                                   n->in[2]->value, n->in[3]->value, n->work, n->grad, n->in[0]->grad,
                                   n->in[1]->grad, n->in[2]->grad, n->in[3]->grad, set);
}

const alig_ad_opdef alig_ad_def_dnc_read_weights = { "dnc_read_weights", read_forward, read_backward, 0xFu, 0 };

/* ---------------------------------------------------------------- bmm */

alig_ad_node *alig_ad_bmm(alig_ad_graph *G, alig_ad_node *a, alig_ad_node *b)
{
    static const char op[] = "bmm";
    alig_ad_node *ins[2] = { a, b };
    char sa[64], sb[64];
    if (!alig_ad_check_args(G, op, 2, ins)) return NULL;
    if (a->ndim != 3 || b->ndim != 3)
        return alig_ad_fail(G, ALIG_EBADLEN, op, "operands must be 3-D (B,M,K) and (B,K,N), got %s and %s",
                            alig_ad_shape_str(a, sa, sizeof sa), alig_ad_shape_str(b, sb, sizeof sb));
    if (a->dims[0] != b->dims[0] || a->dims[2] != b->dims[1])
        return alig_ad_fail(G, ALIG_EBADLEN, op, "%s and %s: need (B,M,K) and (B,K,N) with equal B and K",
                            alig_ad_shape_str(a, sa, sizeof sa), alig_ad_shape_str(b, sb, sizeof sb));
    return alig_ad_new_node(G, ALIG_OP_BMM, 3, (int[]){ a->dims[0], a->dims[1], b->dims[2] }, 2, ins);
}

static alig_status bmm_forward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)G; (void)train;
    const alig_ad_node *a = n->in[0];
    alig_dnc_bmm_forward(n->dims[0], n->dims[1], a->dims[2], n->dims[2], a->value, n->in[1]->value, n->value);
    return ALIG_SUCCESS;
}

static void bmm_backward(alig_ad_graph *G, alig_ad_node *n, int train)
{
    (void)train;
    const unsigned set = claim_all(G, n);
    const alig_ad_node *a = n->in[0];
    alig_dnc_bmm_backward(n->dims[0], n->dims[1], a->dims[2], n->dims[2], a->value, n->in[1]->value, n->grad,
                          n->in[0]->grad, n->in[1]->grad, set);
}

const alig_ad_opdef alig_ad_def_bmm = { "bmm", bmm_forward, bmm_backward, 0x3u, 0 };
