/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query ReceivablesAging {\n    receivablesAging {\n      asOf\n      currencies {\n        currency\n        notDue { count value }\n        days1To30 { count value }\n        days31To60 { count value }\n        days61To90 { count value }\n        over90 { count value }\n        total { count value }\n        mostOverdueAccounts {\n          accountId\n          account { id name }\n          count\n          value\n        }\n      }\n    }\n  }\n": typeof types.ReceivablesAgingDocument,
    "\n  query StatusTotals($orderId: String) {\n    statusChangeCursor\n    invoiceStatusTotals(orderId: $orderId) {\n      status\n      count\n      value {\n        amount\n        currency\n      }\n    }\n  }\n": typeof types.StatusTotalsDocument,
    "\n  query ExportUrl($status: InvoiceStatus, $orderId: String, $delimiter: CsvDelimiter!) {\n    invoiceExportUrl(status: $status, orderId: $orderId, delimiter: $delimiter)\n  }\n": typeof types.ExportUrlDocument,
    "\n  fragment ImportFields on InvoiceImport {\n    id\n    fileName\n    actor\n    startedAt\n    finishedAt\n    dryRun\n    applyValidRows\n    state\n    rowsTotal\n    rowsRead\n    rowsChanged\n    rowsUnchanged\n    rowsRefused\n    problem\n  }\n": typeof types.ImportFieldsFragmentDoc,
    "\n  mutation ImportInvoicesCsv($input: ImportInvoicesCsvInput!) {\n    importInvoicesCsv(input: $input) {\n      import {\n        ...ImportFields\n        errors(first: 500) {\n          line\n          column\n          code\n          message\n        }\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.ImportInvoicesCsvDocument,
    "\n  query ImportProgress($id: ID!) {\n    invoiceImport(id: $id) {\n      ...ImportFields\n    }\n  }\n": typeof types.ImportProgressDocument,
    "\n  query ImportErrors($id: ID!, $afterLine: Int) {\n    invoiceImport(id: $id) {\n      id\n      errors(first: 500, afterLine: $afterLine) {\n        line\n        column\n        code\n        message\n      }\n    }\n  }\n": typeof types.ImportErrorsDocument,
    "\n  query InvoiceImports($after: ID) {\n    invoiceImports(first: 10, after: $after) {\n      ...ImportFields\n    }\n  }\n": typeof types.InvoiceImportsDocument,
    "\n  mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {\n    markInvoicePaid(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.MarkInvoicePaidDocument,
    "\n  mutation CancelInvoice($input: CancelInvoiceInput!) {\n    cancelInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.CancelInvoiceDocument,
    "\n  mutation SetPaymentLink($input: SetPaymentLinkInput!) {\n    setPaymentLink(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.SetPaymentLinkDocument,
    "\n  mutation ChangeInvoice($input: ChangeInvoiceInput!) {\n    changeInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": typeof types.ChangeInvoiceDocument,
    "\n  fragment InvoiceDetailsFields on Invoice {\n    id\n    friendlyId\n    status\n    value\n    currency\n    dueDate\n    originalDueDate\n    installment\n    numberOfInstallments\n    paymentLink\n    observation\n    orderId\n    version\n    createdAt\n    updatedAt\n    resolvedAt\n    order {\n      id\n      value\n      currency\n      createdAt\n    }\n    account {\n      id\n      name\n      email\n    }\n    history {\n      cursor\n      occurredAt\n      actor\n      source\n      previousStatus\n      status\n      reason\n      importId\n      paymentLinkChange {\n        from\n        to\n      }\n      observationChange {\n        from\n        to\n      }\n      dueDateChange {\n        from\n        to\n      }\n    }\n  }\n": typeof types.InvoiceDetailsFieldsFragmentDoc,
    "\n  query InvoiceDetails($id: ID!) {\n    today\n    invoice(id: $id) {\n      ...InvoiceDetailsFields\n    }\n  }\n": typeof types.InvoiceDetailsDocument,
    "\n  query ConsoleInvoices($status: InvoiceStatus, $orderId: String, $first: Int!, $after: String) {\n    invoices(status: $status, orderId: $orderId, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        installment\n        numberOfInstallments\n        orderId\n        account {\n          id\n          name\n        }\n      }\n    }\n  }\n": typeof types.ConsoleInvoicesDocument,
    "\n  subscription LiveInvoiceChanges($after: String) {\n    invoiceStatusChanged(after: $after) {\n      cursor\n      status\n      invoice {\n        id\n        status\n        version\n        dueDate\n        paymentLink\n        updatedAt\n        resolvedAt\n      }\n    }\n  }\n": typeof types.LiveInvoiceChangesDocument,
    "\n  query MyAccount($id: ID!) {\n    account(id: $id) {\n      id\n      name\n      currency\n      creditLimit\n      openBalance\n      availableCredit\n    }\n  }\n": typeof types.MyAccountDocument,
    "\n  query MyInvoices($status: InvoiceStatus, $first: Int!, $after: String) {\n    statusChangeCursor\n    invoices(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        originalDueDate\n        installment\n        numberOfInstallments\n        orderId\n        paymentLink\n        observation\n        accountId\n      }\n    }\n  }\n": typeof types.MyInvoicesDocument,
    "\n  query Ping {\n    today\n  }\n": typeof types.PingDocument,
};
const documents: Documents = {
    "\n  query ReceivablesAging {\n    receivablesAging {\n      asOf\n      currencies {\n        currency\n        notDue { count value }\n        days1To30 { count value }\n        days31To60 { count value }\n        days61To90 { count value }\n        over90 { count value }\n        total { count value }\n        mostOverdueAccounts {\n          accountId\n          account { id name }\n          count\n          value\n        }\n      }\n    }\n  }\n": types.ReceivablesAgingDocument,
    "\n  query StatusTotals($orderId: String) {\n    statusChangeCursor\n    invoiceStatusTotals(orderId: $orderId) {\n      status\n      count\n      value {\n        amount\n        currency\n      }\n    }\n  }\n": types.StatusTotalsDocument,
    "\n  query ExportUrl($status: InvoiceStatus, $orderId: String, $delimiter: CsvDelimiter!) {\n    invoiceExportUrl(status: $status, orderId: $orderId, delimiter: $delimiter)\n  }\n": types.ExportUrlDocument,
    "\n  fragment ImportFields on InvoiceImport {\n    id\n    fileName\n    actor\n    startedAt\n    finishedAt\n    dryRun\n    applyValidRows\n    state\n    rowsTotal\n    rowsRead\n    rowsChanged\n    rowsUnchanged\n    rowsRefused\n    problem\n  }\n": types.ImportFieldsFragmentDoc,
    "\n  mutation ImportInvoicesCsv($input: ImportInvoicesCsvInput!) {\n    importInvoicesCsv(input: $input) {\n      import {\n        ...ImportFields\n        errors(first: 500) {\n          line\n          column\n          code\n          message\n        }\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.ImportInvoicesCsvDocument,
    "\n  query ImportProgress($id: ID!) {\n    invoiceImport(id: $id) {\n      ...ImportFields\n    }\n  }\n": types.ImportProgressDocument,
    "\n  query ImportErrors($id: ID!, $afterLine: Int) {\n    invoiceImport(id: $id) {\n      id\n      errors(first: 500, afterLine: $afterLine) {\n        line\n        column\n        code\n        message\n      }\n    }\n  }\n": types.ImportErrorsDocument,
    "\n  query InvoiceImports($after: ID) {\n    invoiceImports(first: 10, after: $after) {\n      ...ImportFields\n    }\n  }\n": types.InvoiceImportsDocument,
    "\n  mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {\n    markInvoicePaid(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.MarkInvoicePaidDocument,
    "\n  mutation CancelInvoice($input: CancelInvoiceInput!) {\n    cancelInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.CancelInvoiceDocument,
    "\n  mutation SetPaymentLink($input: SetPaymentLinkInput!) {\n    setPaymentLink(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.SetPaymentLinkDocument,
    "\n  mutation ChangeInvoice($input: ChangeInvoiceInput!) {\n    changeInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n": types.ChangeInvoiceDocument,
    "\n  fragment InvoiceDetailsFields on Invoice {\n    id\n    friendlyId\n    status\n    value\n    currency\n    dueDate\n    originalDueDate\n    installment\n    numberOfInstallments\n    paymentLink\n    observation\n    orderId\n    version\n    createdAt\n    updatedAt\n    resolvedAt\n    order {\n      id\n      value\n      currency\n      createdAt\n    }\n    account {\n      id\n      name\n      email\n    }\n    history {\n      cursor\n      occurredAt\n      actor\n      source\n      previousStatus\n      status\n      reason\n      importId\n      paymentLinkChange {\n        from\n        to\n      }\n      observationChange {\n        from\n        to\n      }\n      dueDateChange {\n        from\n        to\n      }\n    }\n  }\n": types.InvoiceDetailsFieldsFragmentDoc,
    "\n  query InvoiceDetails($id: ID!) {\n    today\n    invoice(id: $id) {\n      ...InvoiceDetailsFields\n    }\n  }\n": types.InvoiceDetailsDocument,
    "\n  query ConsoleInvoices($status: InvoiceStatus, $orderId: String, $first: Int!, $after: String) {\n    invoices(status: $status, orderId: $orderId, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        installment\n        numberOfInstallments\n        orderId\n        account {\n          id\n          name\n        }\n      }\n    }\n  }\n": types.ConsoleInvoicesDocument,
    "\n  subscription LiveInvoiceChanges($after: String) {\n    invoiceStatusChanged(after: $after) {\n      cursor\n      status\n      invoice {\n        id\n        status\n        version\n        dueDate\n        paymentLink\n        updatedAt\n        resolvedAt\n      }\n    }\n  }\n": types.LiveInvoiceChangesDocument,
    "\n  query MyAccount($id: ID!) {\n    account(id: $id) {\n      id\n      name\n      currency\n      creditLimit\n      openBalance\n      availableCredit\n    }\n  }\n": types.MyAccountDocument,
    "\n  query MyInvoices($status: InvoiceStatus, $first: Int!, $after: String) {\n    statusChangeCursor\n    invoices(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        originalDueDate\n        installment\n        numberOfInstallments\n        orderId\n        paymentLink\n        observation\n        accountId\n      }\n    }\n  }\n": types.MyInvoicesDocument,
    "\n  query Ping {\n    today\n  }\n": types.PingDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ReceivablesAging {\n    receivablesAging {\n      asOf\n      currencies {\n        currency\n        notDue { count value }\n        days1To30 { count value }\n        days31To60 { count value }\n        days61To90 { count value }\n        over90 { count value }\n        total { count value }\n        mostOverdueAccounts {\n          accountId\n          account { id name }\n          count\n          value\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ReceivablesAging {\n    receivablesAging {\n      asOf\n      currencies {\n        currency\n        notDue { count value }\n        days1To30 { count value }\n        days31To60 { count value }\n        days61To90 { count value }\n        over90 { count value }\n        total { count value }\n        mostOverdueAccounts {\n          accountId\n          account { id name }\n          count\n          value\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query StatusTotals($orderId: String) {\n    statusChangeCursor\n    invoiceStatusTotals(orderId: $orderId) {\n      status\n      count\n      value {\n        amount\n        currency\n      }\n    }\n  }\n"): (typeof documents)["\n  query StatusTotals($orderId: String) {\n    statusChangeCursor\n    invoiceStatusTotals(orderId: $orderId) {\n      status\n      count\n      value {\n        amount\n        currency\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ExportUrl($status: InvoiceStatus, $orderId: String, $delimiter: CsvDelimiter!) {\n    invoiceExportUrl(status: $status, orderId: $orderId, delimiter: $delimiter)\n  }\n"): (typeof documents)["\n  query ExportUrl($status: InvoiceStatus, $orderId: String, $delimiter: CsvDelimiter!) {\n    invoiceExportUrl(status: $status, orderId: $orderId, delimiter: $delimiter)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ImportFields on InvoiceImport {\n    id\n    fileName\n    actor\n    startedAt\n    finishedAt\n    dryRun\n    applyValidRows\n    state\n    rowsTotal\n    rowsRead\n    rowsChanged\n    rowsUnchanged\n    rowsRefused\n    problem\n  }\n"): (typeof documents)["\n  fragment ImportFields on InvoiceImport {\n    id\n    fileName\n    actor\n    startedAt\n    finishedAt\n    dryRun\n    applyValidRows\n    state\n    rowsTotal\n    rowsRead\n    rowsChanged\n    rowsUnchanged\n    rowsRefused\n    problem\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ImportInvoicesCsv($input: ImportInvoicesCsvInput!) {\n    importInvoicesCsv(input: $input) {\n      import {\n        ...ImportFields\n        errors(first: 500) {\n          line\n          column\n          code\n          message\n        }\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ImportInvoicesCsv($input: ImportInvoicesCsvInput!) {\n    importInvoicesCsv(input: $input) {\n      import {\n        ...ImportFields\n        errors(first: 500) {\n          line\n          column\n          code\n          message\n        }\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ImportProgress($id: ID!) {\n    invoiceImport(id: $id) {\n      ...ImportFields\n    }\n  }\n"): (typeof documents)["\n  query ImportProgress($id: ID!) {\n    invoiceImport(id: $id) {\n      ...ImportFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ImportErrors($id: ID!, $afterLine: Int) {\n    invoiceImport(id: $id) {\n      id\n      errors(first: 500, afterLine: $afterLine) {\n        line\n        column\n        code\n        message\n      }\n    }\n  }\n"): (typeof documents)["\n  query ImportErrors($id: ID!, $afterLine: Int) {\n    invoiceImport(id: $id) {\n      id\n      errors(first: 500, afterLine: $afterLine) {\n        line\n        column\n        code\n        message\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query InvoiceImports($after: ID) {\n    invoiceImports(first: 10, after: $after) {\n      ...ImportFields\n    }\n  }\n"): (typeof documents)["\n  query InvoiceImports($after: ID) {\n    invoiceImports(first: 10, after: $after) {\n      ...ImportFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {\n    markInvoicePaid(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation MarkInvoicePaid($input: MarkInvoicePaidInput!) {\n    markInvoicePaid(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelInvoice($input: CancelInvoiceInput!) {\n    cancelInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation CancelInvoice($input: CancelInvoiceInput!) {\n    cancelInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetPaymentLink($input: SetPaymentLinkInput!) {\n    setPaymentLink(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SetPaymentLink($input: SetPaymentLinkInput!) {\n    setPaymentLink(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChangeInvoice($input: ChangeInvoiceInput!) {\n    changeInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation ChangeInvoice($input: ChangeInvoiceInput!) {\n    changeInvoice(input: $input) {\n      invoice {\n        ...InvoiceDetailsFields\n      }\n      userErrors {\n        field\n        message\n        code\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment InvoiceDetailsFields on Invoice {\n    id\n    friendlyId\n    status\n    value\n    currency\n    dueDate\n    originalDueDate\n    installment\n    numberOfInstallments\n    paymentLink\n    observation\n    orderId\n    version\n    createdAt\n    updatedAt\n    resolvedAt\n    order {\n      id\n      value\n      currency\n      createdAt\n    }\n    account {\n      id\n      name\n      email\n    }\n    history {\n      cursor\n      occurredAt\n      actor\n      source\n      previousStatus\n      status\n      reason\n      importId\n      paymentLinkChange {\n        from\n        to\n      }\n      observationChange {\n        from\n        to\n      }\n      dueDateChange {\n        from\n        to\n      }\n    }\n  }\n"): (typeof documents)["\n  fragment InvoiceDetailsFields on Invoice {\n    id\n    friendlyId\n    status\n    value\n    currency\n    dueDate\n    originalDueDate\n    installment\n    numberOfInstallments\n    paymentLink\n    observation\n    orderId\n    version\n    createdAt\n    updatedAt\n    resolvedAt\n    order {\n      id\n      value\n      currency\n      createdAt\n    }\n    account {\n      id\n      name\n      email\n    }\n    history {\n      cursor\n      occurredAt\n      actor\n      source\n      previousStatus\n      status\n      reason\n      importId\n      paymentLinkChange {\n        from\n        to\n      }\n      observationChange {\n        from\n        to\n      }\n      dueDateChange {\n        from\n        to\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query InvoiceDetails($id: ID!) {\n    today\n    invoice(id: $id) {\n      ...InvoiceDetailsFields\n    }\n  }\n"): (typeof documents)["\n  query InvoiceDetails($id: ID!) {\n    today\n    invoice(id: $id) {\n      ...InvoiceDetailsFields\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ConsoleInvoices($status: InvoiceStatus, $orderId: String, $first: Int!, $after: String) {\n    invoices(status: $status, orderId: $orderId, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        installment\n        numberOfInstallments\n        orderId\n        account {\n          id\n          name\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query ConsoleInvoices($status: InvoiceStatus, $orderId: String, $first: Int!, $after: String) {\n    invoices(status: $status, orderId: $orderId, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        installment\n        numberOfInstallments\n        orderId\n        account {\n          id\n          name\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription LiveInvoiceChanges($after: String) {\n    invoiceStatusChanged(after: $after) {\n      cursor\n      status\n      invoice {\n        id\n        status\n        version\n        dueDate\n        paymentLink\n        updatedAt\n        resolvedAt\n      }\n    }\n  }\n"): (typeof documents)["\n  subscription LiveInvoiceChanges($after: String) {\n    invoiceStatusChanged(after: $after) {\n      cursor\n      status\n      invoice {\n        id\n        status\n        version\n        dueDate\n        paymentLink\n        updatedAt\n        resolvedAt\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyAccount($id: ID!) {\n    account(id: $id) {\n      id\n      name\n      currency\n      creditLimit\n      openBalance\n      availableCredit\n    }\n  }\n"): (typeof documents)["\n  query MyAccount($id: ID!) {\n    account(id: $id) {\n      id\n      name\n      currency\n      creditLimit\n      openBalance\n      availableCredit\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyInvoices($status: InvoiceStatus, $first: Int!, $after: String) {\n    statusChangeCursor\n    invoices(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        originalDueDate\n        installment\n        numberOfInstallments\n        orderId\n        paymentLink\n        observation\n        accountId\n      }\n    }\n  }\n"): (typeof documents)["\n  query MyInvoices($status: InvoiceStatus, $first: Int!, $after: String) {\n    statusChangeCursor\n    invoices(status: $status, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        id\n        friendlyId\n        status\n        value\n        currency\n        dueDate\n        originalDueDate\n        installment\n        numberOfInstallments\n        orderId\n        paymentLink\n        observation\n        accountId\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Ping {\n    today\n  }\n"): (typeof documents)["\n  query Ping {\n    today\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;