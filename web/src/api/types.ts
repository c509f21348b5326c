// Named aliases for the API's types. They all come from schema.d.ts, which is generated from
// the OpenAPI document the control plane serves (scripts/gen_api_types.py); nothing here
// restates a field the document already gives.

import type { components } from "./schema";

type Schemas = components["schemas"];

// ---------------------------------------------------------------- responses

/** What every refusal carries: a code for programs and a message for the person. */
export type ApiErrorBody = Schemas["Error"];

export type Officer = Schemas["Officer"];
export type Visit = Schemas["Visit"];
export type VisitList = Schemas["VisitList"];
export type Eligibility = Schemas["Eligibility"];
export type Recording = Schemas["Recording"];
export type RecordingState = Schemas["RecordingState"];
export type ConsentList = Schemas["ConsentList"];
export type Link = Schemas["Link"];
export type Token = Schemas["Token"];
export type ParticipantSession = Schemas["ParticipantSession"];
export type ParticipantVisit = Schemas["ParticipantVisit"];
export type PublishCaps = Schemas["PublishCaps"];
export type CheckPlan = Schemas["CheckPlan"];
export type CheckRtt = Schemas["CheckRtt"];
export type CheckProbe = Schemas["CheckProbe"];
export type CheckUploadTicket = Schemas["CheckUploadTicket"];
export type CheckVerdict = Schemas["CheckVerdict"];
export type ConnectionCheck = Schemas["ConnectionCheck"];

export type SafeguardingAlert = Schemas["SafeguardingAlert"];
export type VisitAlerts = Schemas["VisitAlerts"];

/** A quality change in the victim's call: what the page reported, and when. */
export type QualityChange = Schemas["ReportQuality"] & { at: string };

/** The check as the progress view gives it; the server always writes these figures. */
export type ProgressCheck = ConnectionCheck &
  Required<Pick<ConnectionCheck, "uplink_kbps" | "downlink_kbps" | "rtt_ms">>;

/** The officer's view of the victim's journey. The document gives its quality changes and its
 *  connection check only as objects; these are the shapes the server puts in them. */
export type Progress = Omit<Schemas["Progress"], "quality" | "connection_check"> & {
  quality: { current: QualityChange | null; changes: QualityChange[] };
  connection_check: ProgressCheck | null;
};

// ---------------------------------------------------------------- request bodies

export type CreateVisit = Schemas["CreateVisit"];
export type RecordChoice = Schemas["RecordChoice"];
export type RecordEligibility = Schemas["RecordEligibility"];
export type CreateLink = Schemas["CreateLink"];
export type CloseVisit = Schemas["CloseVisit"];
export type SelfDeclaration = Schemas["SelfDeclaration"];
export type TokenRequest = Schemas["TokenRequest"];
export type TokenMode = Schemas["TokenMode"];
export type JourneyStep = Schemas["JourneyStep"];
export type StepState = Schemas["StepState"];
export type ReportProgress = Schemas["ReportProgress"];
export type GiveConsent = Schemas["GiveConsent"];
export type ReportQuality = Schemas["ReportQuality"];
export type RttRound = Schemas["RttRound"];
export type DownloadAck = Schemas["DownloadAck"];
export type Transport = Schemas["Transport"];
export type Sender = Schemas["Sender"];
export type FinishCheck = Schemas["FinishCheck"];

// ---------------------------------------------------------------- statements, stills, uploads

export type Statement = Schemas["Statement"];
export type StatementList = Schemas["StatementList"];
export type WitnessStatement = Schemas["WitnessStatement"];
export type Exhibit = Schemas["Exhibit"];
export type ExhibitList = Schemas["ExhibitList"];
export type WitnessExhibits = Schemas["WitnessExhibits"];
export type CreateStatement = Schemas["CreateStatement"];
export type SaveStatement = Schemas["SaveStatement"];
export type RequestCorrection = Schemas["RequestCorrection"];
export type SignStatement = Schemas["SignStatement"];
