package store

import "errors"

func childDiskFull(string, string) error { return errors.New("todo") }
