package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/credmgr/credmgr/backends"
)

func (a *app) logoutCmd() *cobra.Command {
	var account string
	cmd := &cobra.Command{
		Use:               "logout PROVIDER",
		Short:             "Remove a stored credential",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: providerCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := refArg(args[0], account)
			if err != nil {
				return err
			}
			op, err := a.store(cmd.Context())
			if err != nil {
				return err
			}
			err = op.Store.Delete(cmd.Context(), ref)
			if errors.Is(err, backends.ErrNotFound) {
				return withHint(exitNoCreds, fmt.Errorf("no credential for %s; nothing was removed", ref), "credmgr status lists what is stored")
			}
			if err != nil {
				return a.storeError(err)
			}
			fmt.Fprintf(a.stderr, "credmgr: removed %s from the %s backend\n", ref, op.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&account, "account", "", "account name (default \"default\")")
	return cmd
}
