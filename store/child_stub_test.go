package store

import "errors"

func childCrash(string) error            { return errors.New("todo") }
func childLock(string) error             { return errors.New("todo") }
func childDiskFull(string, string) error { return errors.New("todo") }
