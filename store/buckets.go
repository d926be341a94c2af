package store

// All bucket names, in one place. Every bucket is created at Open in a single
// transaction; migrations change contents, never this list's meaning.
var (
	bMeta = []byte("meta") // schema version, settings

	bContacts     = []byte("contacts")     // id → contact
	bUsers        = []byte("users")        // id → user
	bTokens       = []byte("tokens")       // id → API token
	bInteractions = []byte("interactions") // id → interaction
	bVocab        = []byte("vocab")        // kind 0x00 lower(name) → display name

	// Contact and user lookups (the matcher's too).
	ixContactEmail  = []byte("ix_contact_email")  // lower(email) → contact id
	ixContactDomain = []byte("ix_contact_domain") // lower(domain) → organisation id
	ixContactWord   = []byte("ix_contact_word")   // name word 0x00 id → ∅ (search)
	ixContactName   = []byte("ix_contact_name")   // lower(name) 0x00 id → ∅ (sorted list)
	ixOrgMember     = []byte("ix_org_member")     // org id | person id → ∅
	ixUserEmail     = []byte("ix_user_email")     // lower(email) → user id
	ixUserAddr      = []byte("ix_user_addr")      // per-user address token → user id
	ixTokenHash     = []byte("ix_token_hash")     // sha256(token) → token id

	// Interaction indexes: posting lists (store/postings.go) of the
	// positions occurred_at(8) | id(8) under a prefix; a key is the prefix
	// and a block's first position.
	ixTime        = []byte("ix_time_post")         // (no prefix)
	ixContactTime = []byte("ix_contact_time_post") // contact id
	ixType        = []byte("ix_type_post")         // lower(type) 0x00
	ixAction      = []byte("ix_action_post")       // lower(action) 0x00
	ixOwner       = []byte("ix_owner_post")        // owner id
	ixSource      = []byte("ix_source_post")       // source 0x00
	ixWord        = []byte("ix_word_post")         // text word 0x00 (store/words.go)
	ixWordVocab   = []byte("ix_word_vocab")        // text word → ∅, the words in ix_word_post

	// Mail.
	bRaw            = []byte("raw")               // id → raw message
	bRawZ           = []byte("raw_zstd")          // id → raw message, zstd (store/rawmail.go)
	bUnmatched      = []byte("unmatched")         // id → unmatched message
	ixDedupe        = []byte("ix_dedupe")         // dedupe key → kind byte | id
	ixUnmatched     = []byte("ix_unmatched")      // status 0x00 received_at | id
	ixUnmatchedAddr = []byte("ix_unmatched_addr") // address 0x00 id, pending only
	bMailboxes      = []byte("mailboxes")         // mailbox name → IMAP cursor

	// Campaigns reported by campaign tooling.
	bCampaigns        = []byte("campaigns")           // id → campaign
	ixCampaignExt     = []byte("ix_campaign_ext")     // external id → campaign id
	ixCampaignRcpt    = []byte("ix_campaign_rcpt")    // campaign id | address → interaction id | contact id, or "u" (unmatched)
	ixCampaignContact = []byte("ix_campaign_contact") // campaign id | contact id → interaction id

	// Campaigns Touchpoint sends itself (store/campaign_send.go).
	bCampaignSends = []byte("campaign_sends") // campaign id → send (body, filter, status, counts)
	bSendRcpt      = []byte("send_rcpt")      // campaign id | address → recipient state
	ixSendDue      = []byte("ix_send_due")    // campaign id | next attempt(8) | address → ∅, pending only

	// Web sign-in.
	bSessions = []byte("sessions") // sha256(session id) → session

	// Audit log of irreversible admin acts (erasure).
	bAudit = []byte("audit") // id → audit entry

	// Up to schema 4 the interaction indexes held a key per position
	// (prefix | t | id → ∅); migration 5 replaces them.
	indexesV4 = [][]byte{[]byte("ix_time"), []byte("ix_contact_time"), []byte("ix_type"), []byte("ix_action"),
		[]byte("ix_owner"), []byte("ix_source"), []byte("ix_word")}
)

// postingBuckets are the interaction indexes, kept as posting lists, in
// the order of the list* constants.
var postingBuckets = [][]byte{ixTime, ixContactTime, ixType, ixAction, ixOwner, ixSource, ixWord}

const (
	listTime = iota
	listContact
	listType
	listAction
	listOwner
	listSource
	listWord
	numLists
)

var allBuckets = [][]byte{
	bMeta, bContacts, bUsers, bTokens, bInteractions, bVocab,
	ixContactEmail, ixContactDomain, ixContactWord, ixContactName, ixOrgMember,
	ixUserEmail, ixUserAddr, ixTokenHash,
	ixTime, ixContactTime, ixType, ixAction, ixOwner, ixSource, ixWord, ixWordVocab,
	bRaw, bRawZ, bUnmatched, ixDedupe, ixUnmatched, ixUnmatchedAddr, bMailboxes,
	bSessions,
	bCampaigns, ixCampaignExt, ixCampaignRcpt, ixCampaignContact,
	bAudit,
	bCampaignSends, bSendRcpt, ixSendDue,
}
