/* nn_net.c - the net container: one arena, a training graph at batch B, a short-batch training
 * graph built when a last batch of b < B samples comes, and an evaluation graph at batch EB.
 *
 * Nothing is allocated per mini-batch: samples are gathered straight into the input node of the
 * graph (alig_data_batch), labels through one int32 scratch into the label node. The dropout
 * stream (seed, number of training forwards) belongs to the net and is handed to whichever
 * training graph runs, so the masks are the same whether or not a short batch intervened, and
 * a checkpoint needs only the two numbers. Evaluation computes each sample's loss (cross-entropy, or
 * the hinge through the training op's kernel: alig_nn_net_set_loss) in double from its scores, so
 * the eval graph has no loss node and any EB gives the same result (batch norm in evaluation mode
 * treats samples independently; padded rows are ignored). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn_impl.h"
#include "kernels.h"

/* ---------------------------------------------------------------- graphs */

static void tgraph_free(nn_tgraph *t)
{
    alig_ad_graph_free(t->G);
    memset(t, 0, sizeof *t);
}

/* Copy the first failure of a build into net->err and return its status. */
static alig_status build_status(alig_nn_net *net, const nn_build *b, alig_ad_graph *G)
{
    if (b->status) return b->status;
    alig_status rc = alig_ad_graph_status(G);
    if (rc) snprintf(net->err, sizeof net->err, "%s", alig_ad_graph_error(G));
    return rc;
}

/* Build and compile a training graph at batch size `bs`; declare = 1 only for the first graph. */
static alig_status tgraph_build(alig_nn_net *net, nn_tgraph *t, int bs, int declare)
{
    const alig_nn_spec *s = &net->spec;
    memset(t, 0, sizeof *t);
    alig_status rc = alig_ad_graph_alloc(&t->G, net->P, net->rng_seed);
    if (rc) return rc;
    nn_build b = { .net = net, .G = t->G, .declare = declare };
    t->x = alig_ad_input(t->G, 4, (const int[]){ bs, s->in_c, s->in_h, s->in_w });
    t->y = alig_ad_input(t->G, 1, &bs);
    t->logits = alig_nn_model_forward(&b, s, t->x);
    t->loss = net->loss == ALIG_NN_LOSS_CE ? alig_ad_softmax_ce(t->G, t->logits, t->y)
                                           : alig_ad_hinge(t->G, t->logits, t->y, net->loss == ALIG_NN_LOSS_SMOOTH_HINGE);
    if ((rc = build_status(net, &b, t->G))) goto fail;
    if (!declare && b.pos != net->nt) {
        snprintf(net->err, sizeof net->err, "model used %d of %d recorded tensors", b.pos, net->nt);
        rc = ALIG_EINVAL;
        goto fail;
    }
    /* activations and their gradients share memory by liveness; the logits stay readable after
     * backward (the accuracy count, per-sample losses); the short-batch graph runs in the memory
     * of the full one (the two never run at the same time) */
    if ((rc = alig_ad_keep(t->G, t->logits)) ||
        (t != &net->train && net->train.G && (rc = alig_ad_graph_borrow(t->G, net->train.G))) ||
        (rc = alig_ad_graph_compile_planned(t->G))) {
        snprintf(net->err, sizeof net->err, "%s", alig_ad_graph_error(t->G));
        goto fail;
    }
    t->b = bs;
    return ALIG_SUCCESS;
fail:
    tgraph_free(t);
    return rc;
}

static alig_status egraph_build(alig_nn_net *net)
{
    const alig_nn_spec *s = &net->spec;
    alig_status rc = alig_ad_graph_alloc(&net->eval, net->P, net->rng_seed);
    if (rc) return rc;
    nn_build b = { .net = net, .G = net->eval, .declare = 0 };
    net->ex = alig_ad_input(net->eval, 4, (const int[]){ net->EB, s->in_c, s->in_h, s->in_w });
    net->elogits = alig_nn_model_forward(&b, s, net->ex);
    if ((rc = build_status(net, &b, net->eval))) return rc;
    if ((rc = alig_ad_graph_compile_inference(net->eval))) {   /* no gradients */
        snprintf(net->err, sizeof net->err, "%s", alig_ad_graph_error(net->eval));
        return rc;
    }
    return ALIG_SUCCESS;
}

/* ---------------------------------------------------------------- lifecycle */

alig_status alig_nn_net_alloc(alig_nn_net **out, const alig_nn_spec *spec, int batch, int eval_batch,
                              unsigned long seed, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (out) *out = NULL;
    if (!out || !spec) return ALIG_EINVAL;
    alig_status rc = alig_nn_spec_check(spec);
    if (rc) {
        if (err && errlen) snprintf(err, errlen, "invalid model specification");
        return rc;
    }
    if (batch < 1 || eval_batch < 1) {
        if (err && errlen) snprintf(err, errlen, "batch sizes must be >= 1 (got %d and %d)", batch, eval_batch);
        return ALIG_EBADBATCH;
    }
    alig_nn_net *net = calloc(1, sizeof *net);
    if (!net) return ALIG_ENOMEM;
    net->spec = *spec;
    net->B = batch;
    net->EB = eval_batch;
    net->rng_seed = (uint64_t)seed;
    net->labels = malloc((size_t)(batch > eval_batch ? batch : eval_batch) * sizeof *net->labels);
    if (!net->labels || (rc = alig_ad_params_alloc(&net->P))) {
        rc = ALIG_ENOMEM;
        goto fail;
    }
    if ((rc = tgraph_build(net, &net->train, batch, 1))) goto fail;
    if ((rc = egraph_build(net))) goto fail;
    if ((rc = alig_nn_net_init(net, seed))) goto fail;
    *out = net;
    return ALIG_SUCCESS;
fail:
    if (err && errlen) {
        if (net->err[0]) snprintf(err, errlen, "%s", net->err);
        else snprintf(err, errlen, "%s", alig_strerror(rc));
    }
    alig_nn_net_free(net);
    return rc;
}

void alig_nn_net_free(alig_nn_net *net)
{
    if (!net) return;
    tgraph_free(&net->tail);        /* it may borrow the training graph's memory */
    tgraph_free(&net->train);
    alig_ad_graph_free(net->eval);
    alig_ad_params_free(net->P);
    free(net->t);
    free(net->labels);
    free(net);
}

const alig_nn_spec *alig_nn_net_spec(const alig_nn_net *net) { return net ? &net->spec : NULL; }
int alig_nn_net_batch(const alig_nn_net *net) { return net ? net->B : 0; }
size_t alig_nn_net_n(const alig_nn_net *net) { return net ? alig_ad_params_n(net->P) : 0; }
float *alig_nn_net_x(alig_nn_net *net) { return net ? alig_ad_params_x(net->P) : NULL; }
float *alig_nn_net_g(alig_nn_net *net) { return net ? alig_ad_params_g(net->P) : NULL; }
alig_ad_params *alig_nn_net_params(alig_nn_net *net) { return net ? net->P : NULL; }

alig_ad_graph *alig_nn_net_train_graph(alig_nn_net *net, alig_ad_node **x, alig_ad_node **y,
                                       alig_ad_node **logits, alig_ad_node **loss)
{
    if (!net) return NULL;
    if (x) *x = net->train.x;
    if (y) *y = net->train.y;
    if (logits) *logits = net->train.logits;
    if (loss) *loss = net->train.loss;
    return net->train.G;
}

void alig_nn_net_rng(const alig_nn_net *net, uint64_t *seed, uint64_t *step)
{
    if (!net) return;
    if (seed) *seed = net->rng_seed;
    if (step) *step = net->rng_step;
}

void alig_nn_net_set_rng(alig_nn_net *net, uint64_t seed, uint64_t step)
{
    if (!net) return;
    net->rng_seed = seed;
    net->rng_step = step;
}

/* ---------------------------------------------------------------- batches */

static int set_matches(const alig_nn_net *net, const alig_image_set *set)
{
    const alig_nn_spec *s = &net->spec;
    return set && (set->x || (set->u && set->lut)) && set->y && set->c == (size_t)s->in_c && set->h == (size_t)s->in_h &&
           set->w == (size_t)s->in_w && set->num_classes <= (size_t)s->classes;
}

/* Index of the first maximum of row[0..C). */
static int argmax_row(const float *row, int C)
{
    int best = 0;
    for (int j = 1; j < C; j++)
        if (row[j] > row[best]) best = j;
    return best;
}

alig_status alig_nn_net_gradient(alig_nn_net *net, const alig_image_set *set, const size_t *idx, size_t start,
                                 size_t b, double *loss, size_t *correct)
{
    if (!net || !loss || !set_matches(net, set)) return ALIG_EINVAL;
    if (b == 0 || b > (size_t)net->B || start > set->n || b > set->n - start) return ALIG_EBADBATCH;
    nn_tgraph *t = &net->train;
    alig_status rc;
    if (b < (size_t)net->B) {
        t = &net->tail;
        if (t->b != (int)b) {
            tgraph_free(t);
            if ((rc = tgraph_build(net, t, (int)b, 0))) return rc;
        }
    }
    if ((rc = alig_data_batch(set, idx, start, b, t->x->value, net->labels))) return rc;
    for (size_t i = 0; i < b; i++) t->y->value[i] = (float)net->labels[i];
    alig_ad_graph_set_rng(t->G, net->rng_seed, net->rng_step);
    if ((rc = alig_ad_forward(t->G, 1))) return rc;
    alig_ad_graph_rng(t->G, NULL, &net->rng_step);
    if ((rc = alig_ad_backward(t->G, t->loss))) return rc;
    *loss = alig_ad_scalar(t->loss);
    if (correct) {
        const int C = net->spec.classes;
        size_t ok = 0;
        for (size_t i = 0; i < b; i++) ok += argmax_row(t->logits->value + i * (size_t)C, C) == net->labels[i];
        *correct = ok;
    }
    return ALIG_SUCCESS;
}

/* Mean loss and accuracy over a set; losses (may be NULL) receives each sample's loss. */
static alig_status evaluate_set(alig_nn_net *net, const alig_image_set *set, double *losses, double *loss, double *acc)
{
    if (!net || !set_matches(net, set) || set->n == 0) return ALIG_EINVAL;
    const int C = net->spec.classes;
    const size_t EB = (size_t)net->EB, sample = alig_image_set_sample_size(set);
    double sum = 0.0;
    size_t ok = 0;
    alig_status rc;
    /* the hinge's per-sample losses come from the training op's kernel (its ξ and row losses need room) */
    float *xi = NULL;
    double *rowloss = NULL;
    if (net->loss != ALIG_NN_LOSS_CE) {
        xi = malloc(EB * (size_t)C * sizeof *xi);
        rowloss = malloc(EB * sizeof *rowloss);
        if (!xi || !rowloss) {
            free(xi);
            free(rowloss);
            return ALIG_ENOMEM;
        }
    }
    for (size_t i = 0; i < set->n; i += EB) {
        const size_t b = set->n - i < EB ? set->n - i : EB;
        rc = alig_data_batch(set, NULL, i, b, net->ex->value, net->labels);
        if (!rc && b < EB) memset(net->ex->value + b * sample, 0, (EB - b) * sample * sizeof(float));
        if (!rc) rc = alig_ad_forward(net->eval, 0);
        if (rc) {
            free(xi);
            free(rowloss);
            return rc;
        }
        if (net->loss != ALIG_NN_LOSS_CE)
            alig_nk_hinge_forward((int)b, C, net->elogits->value, net->labels, net->loss == ALIG_NN_LOSS_SMOOTH_HINGE,
                                  xi, rowloss);
        for (size_t r = 0; r < b; r++) {
            const float *row = net->elogits->value + r * (size_t)C;
            const int y = net->labels[r], k = argmax_row(row, C);
            double l;
            if (net->loss == ALIG_NN_LOSS_CE) {
                double m = row[k], z = 0.0;
                for (int j = 0; j < C; j++) z += exp((double)row[j] - m);
                l = m + log(z) - (double)row[y];
            } else {
                int finite = 1;     /* the hinge's max skips NaN scores: make them show */
                for (int j = 0; j < C; j++) finite &= isfinite(row[j]) != 0;
                l = finite ? rowloss[r] : NAN;
            }
            sum += l;
            if (losses) losses[i + r] = l;
            ok += k == y;
        }
    }
    free(xi);
    free(rowloss);
    if (loss) *loss = sum / (double)set->n;
    if (acc) *acc = (double)ok / (double)set->n;
    return ALIG_SUCCESS;
}

alig_status alig_nn_net_evaluate(alig_nn_net *net, const alig_image_set *set, double *loss, double *acc)
{
    return evaluate_set(net, set, NULL, loss, acc);
}

alig_status alig_nn_net_sample_losses(alig_nn_net *net, const alig_image_set *set, double *losses, double *loss,
                                      double *acc)
{
    if (!losses) return ALIG_EINVAL;
    return evaluate_set(net, set, losses, loss, acc);
}

/* ---------------------------------------------------------------- the loss */

static const char *const loss_names[] = { "ce", "hinge", "smooth-hinge" };

const char *alig_nn_loss_name(int loss)
{
    return loss >= 0 && loss < (int)(sizeof loss_names / sizeof loss_names[0]) ? loss_names[loss] : NULL;
}

alig_status alig_nn_loss_parse(const char *name, int *loss)
{
    if (!name || !loss) return ALIG_EINVAL;
    for (int i = 0; i < (int)(sizeof loss_names / sizeof loss_names[0]); i++)
        if (!strcmp(name, loss_names[i])) {
            *loss = i;
            return ALIG_SUCCESS;
        }
    return ALIG_EINVAL;
}

int alig_nn_net_loss(const alig_nn_net *net) { return net ? net->loss : ALIG_NN_LOSS_CE; }

alig_status alig_nn_net_set_loss(alig_nn_net *net, int loss)
{
    if (!net || !alig_nn_loss_name(loss)) return ALIG_EINVAL;
    if (loss == net->loss) return ALIG_SUCCESS;
    /* free first, so that a large net never holds two training graphs; the short-batch graph is
     * rebuilt with the new loss when a short batch comes */
    const int old = net->loss;
    tgraph_free(&net->tail);
    tgraph_free(&net->train);
    net->loss = loss;
    alig_status rc = tgraph_build(net, &net->train, net->B, 0);
    if (rc) {
        net->loss = old;
        if (tgraph_build(net, &net->train, net->B, 0)) memset(&net->train, 0, sizeof net->train);
    }
    return rc;
}
