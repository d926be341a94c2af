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

	// Interaction indexes. Keys end in occurred_at(8) | id(8).
	ixTime        = []byte("ix_time")         // t | id
	ixContactTime = []byte("ix_contact_time") // contact id | t | id
	ixType        = []byte("ix_type")         // lower(type) 0x00 t | id
	ixAction      = []byte("ix_action")       // lower(action) 0x00 t | id
	ixOwner       = []byte("ix_owner")        // owner id | t | id
	ixSource      = []byte("ix_source")       // source 0x00 t | id
	ixWord        = []byte("ix_word_post")    // text word 0x00 → posting blocks (store/words.go, store/postings.go)
	ixWordVocab   = []byte("ix_word_vocab")   // text word → ∅, the words in ix_word_post
	ixWordV4      = []byte("ix_word")         // schema 3–4: text word 0x00 t | id → ∅ (migration 5 drops it)

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
