/*
 * Training through the C API at the level of models: the MLP of
 * models/mlp.txt on Fashion-MNIST, then the model saved as a safetensors file
 * PyTorch can read. The same as
 *   sinapsi train --model models/mlp.txt --data DATA --optim adam --lr 0.001 --epochs 2
 *
 *   example_train_mlp [SPEC] [DATA]
 */
#include <stdio.h>

#include "sinapsi/sinapsi.h"

int main(int argc, char **argv) {
    const char *spec = argc > 1 ? argv[1] : "models/mlp.txt";
    const char *data = argc > 2 ? argv[2] : "/usr/share/datasets/fashion-mnist";
    sn_model *model = NULL;
    sn_dataset *train = NULL, *test = NULL;
    sn_data_opts data_opts = sn_data_defaults(); /* uint8 pixels -> [0, 1] */
    sn_train_opts opts = sn_train_defaults();
    opts.epochs = 2;
    opts.optim = sn_optim_defaults(SN_OPTIM_ADAM);
    opts.optim.lr = 0.001;
    opts.seed = 1;
    opts.out = "mlp.safetensors";
    sn_train_result result;
    if (sn_model_from_spec_file(&model, spec) != SN_OK ||
        sn_dataset_load(data, &data_opts, &train, &test) != SN_OK ||
        sn_train(model, train, test, &opts, &result) != SN_OK) {
        fprintf(stderr, "train_mlp: %s\n", sn_last_error());
        sn_model_destroy(model);
        sn_dataset_destroy(train);
        sn_dataset_destroy(test);
        return 1;
    }
    printf("test accuracy %.4f after %d epochs (%lld steps), saved %s\n",
           result.last.eval.accuracy, result.epochs_run, (long long)result.steps, opts.out);
    sn_model_destroy(model);
    sn_dataset_destroy(train);
    sn_dataset_destroy(test);
    return 0;
}
